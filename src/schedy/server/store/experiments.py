"""Experiments: one row each, in their owner's namespace."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, bindparam, delete, func, select, update

from schedy.server.store.compiled import compiled, fetch_one
from schedy.server.store.dialect import insert_ignore
from schedy.server.store.engine import db_now
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import experiment_events, experiments, jobs

#: The columns of an experiment row, in :class:`ExperimentRecord`'s order.
COLUMNS = (
    experiments.c.id,
    experiments.c.name,
    experiments.c.status,
    experiments.c.scheduler,
    experiments.c.params,
    experiments.c.options,
    experiments.c.created_at,
    experiments.c.updated_at,
)

ExperimentRow = AnyRow


class ExperimentRecord(NamedTuple):
    """An experiment as :func:`get_record` returns it: the columns of :func:`get`, read by name."""

    id: int
    name: str
    status: str
    scheduler: str
    params: str  # JSON text
    options: str  # JSON text
    created_at: float
    updated_at: float


def get(conn: Connection, owner_id: int, name: str, *, lock: bool = False) -> ExperimentRow | None:
    """The experiment ``name`` of ``owner_id``, if any.

    ``lock`` takes the experiment's row lock until the transaction ends
    (PostgreSQL ``FOR UPDATE``; SQLite write transactions are already
    exclusive), serialising schedulers that need a consistent population.
    """
    statement = _get_statement(lock and conn.dialect.name == "postgresql")
    return conn.execute(statement, {"p_owner": owner_id, "p_name": name}).one_or_none()


def get_record(conn: Connection, owner_id: int, name: str, *, lock: bool = False) -> ExperimentRecord | None:
    """:func:`get` on the hot path: the statement runs on the DB-API cursor and returns a plain record."""
    statement = compiled(conn, _get_statement, lock and conn.dialect.name == "postgresql")
    row = fetch_one(conn, statement, {"p_owner": owner_id, "p_name": name})
    return None if row is None else ExperimentRecord._make(row)


@cache
def _get_statement(lock: bool) -> Select[Any]:
    # Built once: this lookup starts every request on an experiment.
    query = select(*COLUMNS).where(
        experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name")
    )
    return query.with_for_update() if lock else query


def create(
    conn: Connection, owner_id: int, name: str, status: str, scheduler: str, params: str, options: str
) -> ExperimentRow | None:
    """Create the experiment; ``None`` if the name is taken (nothing written)."""
    new_id = conn.execute(
        insert_ignore(conn, experiments, ["owner_id", "name"])
        .values(
            owner_id=owner_id,
            name=name,
            status=status,
            scheduler=scheduler,
            params=params,
            options=options,
            created_at=db_now(),
            updated_at=db_now(),
        )
        .returning(experiments.c.id)
    ).scalar_one_or_none()
    return None if new_id is None else get(conn, owner_id, name)


def replace(conn: Connection, experiment_id: int, status: str, scheduler: str, params: str, options: str) -> None:
    """Replace an experiment's status, scheduler and options."""
    conn.execute(
        update(experiments)
        .where(experiments.c.id == experiment_id)
        .values(status=status, scheduler=scheduler, params=params, options=options, updated_at=db_now())
    )


def set_status(conn: Connection, experiment_id: int, status: str) -> None:
    """Change an experiment's status (e.g. to DONE when its search ended)."""
    conn.execute(
        update(experiments).where(experiments.c.id == experiment_id).values(status=status, updated_at=db_now())
    )


#: The name an experiment takes while its jobs are deleted: no user can give it (names are printable),
#: so the user's name is free at once, and lists leave it out.
DELETING_PREFIX = "\x01deleting:"


def visible() -> Any:
    """The condition that leaves out experiments being deleted (for lists)."""
    return experiments.c.name.not_like(DELETING_PREFIX + "%")


def detach_named(conn: Connection, owner_id: int, name: str) -> int | None:
    """First step of a delete: hide the experiment (renamed, DONE: nothing more is handed out); its id.

    ``None`` if it did not exist. Its jobs are then deleted in short batches
    (:func:`delete_jobs_batch`) and the experiment last (:func:`delete_detached`),
    so deleting a million jobs never holds the database's write lock for long.
    """
    experiment_id = conn.execute(
        select(experiments.c.id).where(experiments.c.owner_id == owner_id, experiments.c.name == name)
    ).scalar_one_or_none()
    if experiment_id is None:
        return None
    conn.execute(
        update(experiments)
        .where(experiments.c.id == experiment_id)
        .values(name=f"{DELETING_PREFIX}{experiment_id}", status="DONE", updated_at=db_now())
    )
    return int(experiment_id)


def detach_owned(conn: Connection, owner_id: int) -> list[int]:
    """:func:`detach_named` for every experiment of a user (its removal); their ids, to finish deleting."""
    ids = [
        int(i)
        for i in conn.execute(
            select(experiments.c.id).where(experiments.c.owner_id == owner_id, visible()).order_by(experiments.c.id)
        ).scalars()
    ]
    for experiment_id in ids:
        conn.execute(
            update(experiments)
            .where(experiments.c.id == experiment_id)
            .values(name=f"{DELETING_PREFIX}{experiment_id}", status="DONE", updated_at=db_now())
        )
    return ids


def delete_jobs_batch(conn: Connection, experiment_id: int, limit: int) -> int:
    """Delete up to ``limit`` jobs of the experiment (their reports with them); how many were."""
    batch = select(jobs.c.pk).where(jobs.c.experiment_id == experiment_id).limit(limit).scalar_subquery()
    return int(conn.execute(delete(jobs).where(jobs.c.pk.in_(batch))).rowcount or 0)


def delete_detached(conn: Connection, experiment_id: int) -> None:
    """Last step of a delete: the experiment's events, any job left, and the experiment."""
    conn.execute(delete(jobs).where(jobs.c.experiment_id == experiment_id))
    conn.execute(delete(experiment_events).where(experiment_events.c.experiment_id == experiment_id))
    conn.execute(delete(experiments).where(experiments.c.id == experiment_id))


def detached(conn: Connection) -> list[int]:
    """Experiments whose delete was left half-way (a service stopped during it): to finish."""
    return [int(i) for i in conn.execute(select(experiments.c.id).where(~visible())).scalars()]


def delete_named(conn: Connection, owner_id: int, name: str) -> bool:
    """Delete the experiment and all its jobs in one transaction (small experiments); ``False`` if absent."""
    experiment_id = detach_named(conn, owner_id, name)
    if experiment_id is None:
        return False
    delete_detached(conn, experiment_id)
    return True


def page(conn: Connection, owner_id: int, after_id: int | None, limit: int) -> list[ExperimentRow]:
    """Up to ``limit`` experiments of the owner with id > ``after_id``, by id."""
    query = select(*COLUMNS).where(experiments.c.owner_id == owner_id, visible())
    if after_id is not None:
        query = query.where(experiments.c.id > after_id)
    return list(conn.execute(query.order_by(experiments.c.id).limit(limit)))


def add_events(conn: Connection, experiment_id: int, payloads: list[str]) -> None:
    """Append events (JSON texts) to the experiment's log."""
    if payloads:
        conn.execute(
            experiment_events.insert().values(created_at=db_now()),
            [{"experiment_id": experiment_id, "payload": p} for p in payloads],
        )


def events(conn: Connection, experiment_id: int, after_id: int | None, limit: int) -> list[AnyRow]:
    """The experiment's log ``(id, created_at, payload)``, oldest first."""
    query = select(experiment_events.c.id, experiment_events.c.created_at, experiment_events.c.payload).where(
        experiment_events.c.experiment_id == experiment_id
    )
    if after_id is not None:
        query = query.where(experiment_events.c.id > after_id)
    return list(conn.execute(query.order_by(experiment_events.c.id).limit(limit)))


def status_counts(conn: Connection, experiment_id: int) -> dict[str, int]:
    """How many jobs the experiment has in each status."""
    rows = conn.execute(
        select(jobs.c.status, func.count()).where(jobs.c.experiment_id == experiment_id).group_by(jobs.c.status)
    )
    return {str(status): int(n) for status, n in rows}
