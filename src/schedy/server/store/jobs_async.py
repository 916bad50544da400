"""The worker loop's job statements on the event loop (PostgreSQL, :mod:`schedy.server.store.aio`).

The same statements as their synchronous twins in :mod:`schedy.server.store.jobs`, with the
same parameters and rows, each atomic alone: the claim of the queue head, the insert of a
scheduler's new job and a worker's conditional update. And one of their own,
:func:`claim_or_create`: a random search's claim in one round trip instead of two.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, Float, Integer, Select, String, bindparam, exists, literal, select, true
from sqlalchemy import insert as sql_insert

from schedy.server.store import jobs as store_jobs
from schedy.server.store.aio import AsyncConnection
from schedy.server.store.engine import db_now
from schedy.server.store.experiments import COLUMNS as EXPERIMENT_COLUMNS
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.jobs import DONE, RUNNING, JobRecord
from schedy.server.store.tables import experiments, jobs

__all__ = [
    "claim_by_name",
    "claim_or_create",
    "claim_queued",
    "created_running",
    "experiment_and_queue",
    "insert",
    "replace_named",
]


async def claim_by_name(
    conn: AsyncConnection, owner_id: int, name: str, worker: str | None, heartbeat: float
) -> tuple[ExperimentRecord, JobRecord | None] | None:
    """:func:`schedy.server.store.jobs.claim_by_name`: the experiment, and its queue head claimed, in one statement."""
    params = store_jobs.claim_by_name_params(owner_id, name, worker, heartbeat)
    return store_jobs.claim_by_name_row(await conn.fetch_one(store_jobs._claim_by_name_statement, (), params))


async def experiment_and_queue(conn: AsyncConnection, owner_id: int, name: str) -> tuple[ExperimentRecord, bool] | None:
    """:func:`schedy.server.store.jobs.experiment_and_queue`: the experiment and whether a job is QUEUED."""
    row = await conn.fetch_one(store_jobs._experiment_and_queue_statement, (), {"p_owner": owner_id, "p_name": name})
    return store_jobs.experiment_and_queue_row(row)


async def claim_queued(
    conn: AsyncConnection,
    experiment_id: int,
    worker: str | None,
    heartbeat: float | None,
    max_run_time: float | None,
) -> JobRecord | None:
    """:func:`schedy.server.store.jobs.claim_queued`: the oldest queued job made RUNNING, if any."""
    params = store_jobs.claim_queued_params(experiment_id, worker, heartbeat, max_run_time)
    return store_jobs.record(await conn.fetch_one(store_jobs._claim_statement, (), params))


async def insert(
    conn: AsyncConnection,
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    worker: str | None = None,
    heartbeat: float | None = None,
    max_run_time: float | None = None,
    member: str | None = None,
    generation: int | None = None,
    parent: str | None = None,
    attempt: int = 1,
) -> JobRecord:
    """:func:`schedy.server.store.jobs.insert` (no ``if_absent``): the new job.

    Raises:
        sqlalchemy.exc.IntegrityError: the id is taken (nothing written).

    """
    params = store_jobs.insert_params(
        experiment_id,
        job_id,
        status,
        hyperparameters,
        results,
        worker=worker,
        heartbeat=heartbeat,
        max_run_time=max_run_time,
        member=member,
        generation=generation,
        parent=parent,
        attempt=attempt,
    )
    args = ("postgresql", store_jobs.group(status), False)
    row = store_jobs.record(await conn.fetch_one(store_jobs._insert_statement, args, params))
    assert row is not None  # noqa: S101 - a plain insert returns its row
    return row


async def replace_named(
    conn: AsyncConnection,
    owner_id: int,
    experiment: str,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    expected: tuple[int, int] | None,
) -> JobRecord | None:
    """:func:`schedy.server.store.jobs.replace_named`: the job (version ``expected``, if given) replaced, if present."""
    params = store_jobs.replace_named_params(owner_id, experiment, job_id, status, hyperparameters, results, expected)
    key = (store_jobs.group(status), expected is not None)
    row = await conn.fetch_one(store_jobs._replace_named_statement, key, params)
    return store_jobs.record(row)


@cache
def _claim_or_create_statement() -> Select[Any]:
    # claim_by_name's statement, and a third CTE: the new job, inserted only if no queued job was
    # claimed, the experiment is not DONE and its definition is still the one the job was decided from.
    exp = (
        select(*EXPERIMENT_COLUMNS)
        .where(experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name"))
        .cte("exp")
    )
    target = select(exp.c.id).where(exp.c.status != DONE).scalar_subquery()
    claimed = store_jobs._claimed(store_jobs.queue_head(target).scalar_subquery()).cte("claimed")
    decided_from = (
        exp.c.status != DONE,
        exp.c.scheduler == bindparam("p_scheduler", type_=String),
        exp.c.params == bindparam("p_params", type_=String),
        exp.c.options == bindparam("p_options", type_=String),
        ~exists(select(claimed.c.pk)),
    )
    created = created_running(exp.c.id, *decided_from)
    return select(*exp.c, *claimed.c, *created.c).select_from(exp.outerjoin(claimed, true()).outerjoin(created, true()))


async def claim_or_create(
    conn: AsyncConnection,
    owner_id: int,
    name: str,
    worker: str | None,
    heartbeat: float,
    decided_from: ExperimentRecord,
    job_id: str,
    hyperparameters: str,
    results: str,
) -> tuple[ExperimentRecord, JobRecord | None] | None:
    """A claim of a scheduler that reads no history, in one statement: the queue head, else a new job.

    As :func:`claim_by_name`; and if no queued job was claimed, the experiment is not DONE and its
    scheduler, parameters and options are still those of ``decided_from`` (what the new job was
    decided from), the new job is inserted RUNNING for the worker in the same statement. ``None``
    for the job if neither happened (the caller decides again from the experiment returned).
    ``None`` if there is no such experiment.

    Raises:
        sqlalchemy.exc.IntegrityError: ``job_id`` is taken (nothing written).

    """
    params = {
        **store_jobs.insert_params(0, job_id, RUNNING, hyperparameters, results, worker=worker, heartbeat=heartbeat),
        **store_jobs.claim_by_name_params(owner_id, name, worker, heartbeat),
        "p_scheduler": decided_from.scheduler,
        "p_params": decided_from.params,
        "p_options": decided_from.options,
    }
    row = await conn.fetch_one(_claim_or_create_statement, (), params)
    if row is None:
        return None
    width, job_width = len(EXPERIMENT_COLUMNS), len(store_jobs.COLUMNS)
    experiment = ExperimentRecord._make(row[:width])
    for start in (width, width + job_width):
        if row[start] is not None:
            return experiment, JobRecord._make(row[start : start + job_width])
    return experiment, None


#: The columns a new RUNNING job's ``INSERT … SELECT`` sets (the others take their defaults).
_NEW_RUNNING_COLUMNS = [
    "experiment_id",
    "job_id",
    "status",
    "priority",
    "hyperparameters",
    "results",
    "version",
    "created_at",
    "updated_at",
    "started_at",
    "worker",
    "member",
    "generation",
    "parent",
    "attempt",
    "heartbeat_interval",
    "lease_expires_at",
]


def created_running(experiment_id: ColumnElement[Any], *where: ColumnElement[bool]) -> CTE:
    """A CTE inserting a new job RUNNING for a worker in ``experiment_id`` when every ``where`` holds.

    The row :func:`schedy.server.store.jobs.insert` writes for a RUNNING job, from the parameters of
    :func:`schedy.server.store.jobs.insert_params` (``p_job``, ``p_hps``, …, ``p_heartbeat``, ``p_lease``);
    it returns :data:`schedy.server.store.jobs.COLUMNS`.
    """
    new = select(
        experiment_id,
        bindparam("p_job", type_=String),
        literal(RUNNING),
        literal(0),
        bindparam("p_hps", type_=String),
        bindparam("p_results", type_=String),
        literal(1),
        db_now(),
        db_now(),
        db_now(),
        bindparam("p_worker", type_=String),
        bindparam("p_member", type_=String),
        bindparam("p_generation", type_=Integer),
        bindparam("p_parent", type_=String),
        bindparam("p_attempt", type_=Integer),
        bindparam("p_heartbeat", type_=Float),
        db_now() + bindparam("p_lease", type_=Float),
    ).where(*where)
    return sql_insert(jobs).from_select(_NEW_RUNNING_COLUMNS, new).returning(*store_jobs.COLUMNS).cte("created")
