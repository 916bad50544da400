"""Jobs: the queue, atomic claims, conditional updates, keyset pages.

Every function runs inside the caller's transaction. The claim is a single
``UPDATE … WHERE pk = (SELECT … LIMIT 1 [FOR UPDATE SKIP LOCKED])
RETURNING …`` statement walking the queue index, so it costs the same with
ten jobs or ten million and never hands one job to two callers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, case, delete, select, update

from schedy.server.store.dialect import insert_ignore
from schedy.server.store.engine import db_now
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import jobs

QUEUED, RUNNING, CRASHED, PRUNED, DONE = "QUEUED", "RUNNING", "CRASHED", "PRUNED", "DONE"
FINISHED = (DONE, CRASHED, PRUNED)
#: A lease survives this many missed heartbeats.
LEASE_BEATS = 3

COLUMNS = (
    jobs.c.pk,
    jobs.c.job_id,
    jobs.c.status,
    jobs.c.hyperparameters,
    jobs.c.results,
    jobs.c.version,
    jobs.c.created_at,
    jobs.c.updated_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.worker,
    jobs.c.member,
    jobs.c.generation,
    jobs.c.parent,
    jobs.c.attempt,
    jobs.c.lease_expires_at,
    jobs.c.end_reason,
)

JobRow = AnyRow


def _lease(heartbeat: float | None) -> dict[str, Any]:
    if heartbeat is None:
        return {"heartbeat_interval": None, "lease_expires_at": None}
    return {"heartbeat_interval": heartbeat, "lease_expires_at": db_now() + heartbeat * LEASE_BEATS}


def _transition(status: str) -> dict[str, Any]:
    """Service-managed columns that follow a change to ``status``."""
    values: dict[str, Any] = {"status": status, "updated_at": db_now(), "version": jobs.c.version + 1}
    if status == RUNNING:
        values["started_at"] = case((jobs.c.status != RUNNING, db_now()), else_=jobs.c.started_at)
        values["finished_at"] = None
        values["end_reason"] = None
        return values
    values.update(_lease(None))
    if status in FINISHED:
        values["finished_at"] = case((jobs.c.status.in_(FINISHED), jobs.c.finished_at), else_=db_now())
        values["end_reason"] = case((jobs.c.status.in_(FINISHED), jobs.c.end_reason), else_="reported")
    else:  # QUEUED again: a fresh start.
        values.update(started_at=None, finished_at=None, worker=None, end_reason=None)
    return values


def queue_head(experiment_id: int) -> Select[tuple[int]]:
    """The pk of the next queued job, locked and skipping jobs locked by other claims.

    It walks the queue index ``(experiment_id, status, priority, pk)`` in
    index order, so it never visits claimed rows.
    """
    return (
        select(jobs.c.pk)
        .where(jobs.c.experiment_id == experiment_id, jobs.c.status == QUEUED)
        .order_by(jobs.c.priority, jobs.c.pk)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def claim_queued(conn: Connection, experiment_id: int, worker: str | None, heartbeat: float | None) -> JobRow | None:
    """Mark the oldest queued job RUNNING and return it; ``None`` if none is queued."""
    oldest = queue_head(experiment_id).scalar_subquery()
    return conn.execute(
        update(jobs)
        .where(jobs.c.pk == oldest)
        .values(
            status=RUNNING,
            version=jobs.c.version + 1,
            started_at=db_now(),
            updated_at=db_now(),
            worker=worker,
            **_lease(heartbeat),
        )
        .returning(*COLUMNS)
    ).one_or_none()


def insert(
    conn: Connection,
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    worker: str | None = None,
    heartbeat: float | None = None,
    member: str | None = None,
    generation: int | None = None,
    parent: str | None = None,
    attempt: int = 1,
    if_absent: bool = False,
) -> JobRow | None:
    """Create a job; with ``if_absent``, ``None`` when the id is taken (nothing written)."""
    statement = insert_ignore(conn, jobs, ["experiment_id", "job_id"]) if if_absent else jobs.insert()
    return conn.execute(
        statement.values(
            experiment_id=experiment_id,
            job_id=job_id,
            status=status,
            priority=0,
            hyperparameters=hyperparameters,
            results=results,
            version=1,
            created_at=db_now(),
            updated_at=db_now(),
            started_at=db_now() if status in (RUNNING, *FINISHED) else None,
            finished_at=db_now() if status in FINISHED else None,
            end_reason="reported" if status in FINISHED else None,
            worker=worker,
            member=member,
            generation=generation,
            parent=parent,
            attempt=attempt,
            **_lease(heartbeat if status == RUNNING else None),
        ).returning(*COLUMNS)
    ).one_or_none()


def _where(experiment_id: int, job_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (jobs.c.experiment_id == experiment_id, jobs.c.job_id == job_id)


def get(conn: Connection, experiment_id: int, job_id: str) -> JobRow | None:
    """The job, if it exists."""
    return conn.execute(select(*COLUMNS).where(*_where(experiment_id, job_id))).one_or_none()


def replace(
    conn: Connection,
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    expected: tuple[int, int] | None = None,
) -> JobRow | None:
    """Replace status, hyperparameters and results; ``None`` if absent or changed.

    ``expected`` is the ``(pk, version)`` the caller's ETag names; when
    given, the update happens only if the job is still that version.
    """
    conditions = list(_where(experiment_id, job_id))
    if expected is not None:
        conditions += [jobs.c.pk == expected[0], jobs.c.version == expected[1]]
    return conn.execute(
        update(jobs)
        .where(*conditions)
        .values(hyperparameters=hyperparameters, results=results, **_transition(status))
        .returning(*COLUMNS)
    ).one_or_none()


def delete_one(conn: Connection, experiment_id: int, job_id: str) -> bool:
    """Delete the job; ``False`` if it did not exist."""
    return conn.execute(delete(jobs).where(*_where(experiment_id, job_id))).rowcount == 1


def heartbeat(conn: Connection, experiment_id: int, job_id: str) -> JobRow | None:
    """Extend a RUNNING job's lease (the ETag does not change); ``None`` if not RUNNING."""
    interval = jobs.c.heartbeat_interval
    return conn.execute(
        update(jobs)
        .where(*_where(experiment_id, job_id), jobs.c.status == RUNNING)
        .values(lease_expires_at=case((interval.is_(None), None), else_=db_now() + interval * LEASE_BEATS))
        .returning(*COLUMNS)
    ).one_or_none()


def page(conn: Connection, experiment_id: int, after_pk: int | None, limit: int) -> list[JobRow]:
    """Up to ``limit`` jobs with pk > ``after_pk``, oldest first."""
    query = select(*COLUMNS).where(jobs.c.experiment_id == experiment_id)
    if after_pk is not None:
        query = query.where(jobs.c.pk > after_pk)
    return list(conn.execute(query.order_by(jobs.c.pk).limit(limit)))


def all_of(conn: Connection, experiment_id: int) -> list[JobRow]:
    """Every job of the experiment, oldest first (for population schedulers)."""
    return list(conn.execute(select(*COLUMNS).where(jobs.c.experiment_id == experiment_id).order_by(jobs.c.pk)))


def now(conn: Connection) -> float:
    """The database clock."""
    return float(conn.execute(select(db_now())).scalar_one())
