"""Attempts of a job: the error a crashed attempt sent, and the outcome of each earlier attempt.

A job's current attempt lives in its row (``attempt``, ``status``,
``end_reason``, ``worker``, times, ``results``, ``error``). When a job goes
back to QUEUED (a CRASHED or PRUNED job re-queued, or a PUT), :func:`record`
keeps that outcome in ``job_attempts`` and
:func:`schedy.server.store.jobs.replace` starts the next attempt on the same
row (the fields a fresh attempt clears are listed there, once). When the
lease sweep (or a scheduler's decision) retries a job as a new job, the
retry takes over its attempts, its outcome and its artifacts
(:func:`carry_over`). Every function
runs inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, case, insert, literal, select, update

from schedy.server.store import artifacts as store_artifacts
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import COLUMNS, CRASHED, JobRecord
from schedy.server.store.tables import job_attempts, jobs

#: The end reason of a job whose worker said it raised (with the error).
RAISED = "raised"


class AttemptRow(NamedTuple):
    """An earlier attempt of a job."""

    attempt: int
    job_id: str
    status: str
    end_reason: str | None
    worker: str | None
    started_at: float | None
    finished_at: float | None
    results: str  # JSON text
    error: str | None  # JSON text


def set_error(conn: Connection, experiment_id: int, job_id: str, error: str, brief: str) -> JobRecord | None:
    """Keep the error (JSON text) a CRASHED job's worker sent; its end reason becomes ``raised``.

    ``brief``: the error's type and message only (JSON text), which every read of the job returns.

    ``None`` when there is no such job or it is not CRASHED (nothing written).
    """
    row = conn.execute(
        update(jobs)
        .where(jobs.c.experiment_id == experiment_id, jobs.c.job_id == job_id, jobs.c.status == CRASHED)
        .values(
            error=error,
            error_brief=brief,
            end_reason=case((jobs.c.end_reason == "reported", RAISED), else_=jobs.c.end_reason),
            version=jobs.c.version + 1,
            updated_at=db_now(),
        )
        .returning(*COLUMNS)
    ).first()
    return None if row is None else JobRecord._make(row)


def error_of(conn: Connection, job_pk: int) -> str | None:
    """The error (JSON text) the job's current attempt sent, if any."""
    found = conn.execute(select(jobs.c.error).where(jobs.c.pk == job_pk)).scalar_one_or_none()
    return None if found is None else str(found)


def record(conn: Connection, job: JobRecord, error: str | None, *, into: int | None = None) -> None:
    """Keep the outcome of ``job``'s current attempt (on the job itself, or on job pk ``into``)."""
    conn.execute(
        insert(job_attempts).values(
            job_pk=job.pk if into is None else into,
            attempt=job.attempt,
            job_id=job.job_id,
            status=job.status,
            end_reason=job.end_reason,
            worker=job.worker,
            started_at=job.started_at,
            finished_at=job.finished_at,
            results=job.results,
            error=error,
        )
    )


def of_job(conn: Connection, job_pk: int) -> list[AttemptRow]:
    """The job's earlier attempts, oldest first."""
    c = job_attempts.c
    rows = conn.execute(
        select(c.attempt, c.job_id, c.status, c.end_reason, c.worker, c.started_at, c.finished_at, c.results, c.error)
        .where(c.job_pk == job_pk)
        .order_by(c.attempt, c.pk)
    )
    return [AttemptRow._make(r) for r in rows]


def copy(conn: Connection, from_pk: int, to_pk: int) -> None:
    """Give job ``to_pk`` the earlier attempts of job ``from_pk`` (a retry made by the lease sweep)."""
    c = job_attempts.c
    columns: list[Any] = [c.attempt, c.job_id, c.status, c.end_reason, c.worker, c.started_at, c.finished_at]
    columns += [c.results, c.error]
    source = select(literal(to_pk, type_=jobs.c.pk.type), *columns).where(c.job_pk == from_pk).order_by(c.pk)
    conn.execute(insert(job_attempts).from_select(["job_pk", *(col.name for col in columns)], source))


def carry_over(conn: Connection, retried: JobRecord, retry_pk: int, *, artifacts: bool = True) -> None:
    """Make job ``retry_pk`` the next attempt of ``retried``: its earlier attempts, that one's outcome, its artifacts.

    What a retry takes over, whoever made it (the lease sweep, or a scheduler's decision): the
    attempts before it and the retried one's outcome with its error, listed on the retry; and,
    unless ``artifacts`` is false, the retried job's artifacts (its checkpoints, the same blobs).
    """
    if artifacts:
        store_artifacts.copy(conn, retried.pk, retry_pk)
    copy(conn, retried.pk, retry_pk)
    record(conn, retried, error_of(conn, retried.pk), into=retry_pk)
