"""The worker loop's job statements on the event loop (PostgreSQL, :mod:`schedy.server.store.aio`).

The same statements as their synchronous twins in :mod:`schedy.server.store.jobs`, with the
same parameters and rows, each atomic alone: the claim of the queue head, the insert of a
scheduler's new job and a worker's conditional update. And two of their own:
:func:`claim_or_create`, a random search's claim in one round trip instead of two, and
:func:`spend_and_insert`, a unit of a budget (``maxJobs``) and the job it pays for in one
statement, so that they commit together without a transaction's three round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, Integer, Select, String, bindparam, exists, literal, select, true
from sqlalchemy import insert as sql_insert

from schedy.server.store import budget
from schedy.server.store import jobs as store_jobs
from schedy.server.store.aio import AsyncConnection
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
    "spend_and_insert",
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


async def insert(conn: AsyncConnection, params: Mapping[str, Any]) -> JobRecord:
    """:func:`schedy.server.store.jobs.insert` (no ``if_absent``): the new job.

    ``params``: :func:`schedy.server.store.jobs.insert_params` of the new job.

    Raises:
        sqlalchemy.exc.IntegrityError: the id is taken (nothing written).

    """
    args = ("postgresql", store_jobs.group(params["p_status"]), False)
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
def _claim_or_create_statement(budgeted: bool) -> Select[Any]:
    # claim_by_name's statement, and a third CTE: the new job, inserted only if no queued job was
    # claimed, the experiment is not DONE and its definition is still the one the job was decided from;
    # budgeted: and only if a unit of the budget was taken for it, in a fourth.
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
    if budgeted:
        spent = _spent(experiments.c.id == select(exp.c.id).where(*decided_from).scalar_subquery())
        created = created_running(spent.c.id)
    else:
        created = created_running(exp.c.id, *decided_from)
    return select(*exp.c, *claimed.c, *created.c).select_from(exp.outerjoin(claimed, true()).outerjoin(created, true()))


def _spent(*where: ColumnElement[bool]) -> CTE:
    """A CTE taking one unit of an experiment's budget (``p_limit``) where every ``where`` holds; its id if taken."""
    return budget.spend_update(*where).returning(experiments.c.id).cte("spent")


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
    limit: int | None = None,
) -> tuple[ExperimentRecord, JobRecord | None] | None:
    """A claim of a scheduler that reads no history, in one statement: the queue head, else a new job.

    As :func:`claim_by_name`; and if no queued job was claimed, the experiment is not DONE and its
    scheduler, parameters and options are still those of ``decided_from`` (what the new job was
    decided from), the new job is inserted RUNNING for the worker in the same statement; with a
    ``limit`` (the experiment's ``maxJobs``), only if a unit of the budget was left, taken in the
    same statement. ``None`` for the job if neither happened (the caller decides again from the
    experiment returned, whose ``jobs_created`` is as it was before the statement). ``None`` if
    there is no such experiment.

    Raises:
        sqlalchemy.exc.IntegrityError: ``job_id`` is taken (nothing written).

    """
    params = {
        **store_jobs.insert_params(
            0, job_id, RUNNING, hyperparameters, results, worker=worker, heartbeat=heartbeat, by_search=True
        ),
        **store_jobs.claim_by_name_params(owner_id, name, worker, heartbeat),
        "p_scheduler": decided_from.scheduler,
        "p_params": decided_from.params,
        "p_options": decided_from.options,
        "p_limit": limit,
    }
    row = await conn.fetch_one(_claim_or_create_statement, (limit is not None,), params)
    if row is None:
        return None
    width, job_width = len(EXPERIMENT_COLUMNS), len(store_jobs.COLUMNS)
    experiment = ExperimentRecord._make(row[:width])
    for start in (width, width + job_width):
        if row[start] is not None:
            return experiment, JobRecord._make(row[start : start + job_width])
    return experiment, None


@cache
def _spend_and_insert_statement() -> Select[Any]:
    spent = _spent(experiments.c.id == bindparam("p_experiment", type_=Integer))
    created = created_running(spent.c.id)
    return select(*created.c)


async def spend_and_insert(conn: AsyncConnection, limit: int, params: Mapping[str, Any]) -> JobRecord | None:
    """A unit of the experiment's budget taken and a new job inserted RUNNING for the worker, in one statement.

    :func:`schedy.server.store.budget.spend` and :func:`insert` (``params``: those of a RUNNING job),
    committed together in one round trip. ``None`` (nothing written) if the experiment's budget,
    ``limit`` jobs, is spent or the experiment is DONE.

    Raises:
        sqlalchemy.exc.IntegrityError: the job's id is taken (nothing written).

    """
    return store_jobs.record(await conn.fetch_one(_spend_and_insert_statement, (), {**params, "p_limit": limit}))


def created_running(experiment_id: ColumnElement[Any], *where: ColumnElement[bool]) -> CTE:
    """A CTE inserting a new job RUNNING for a worker in ``experiment_id`` when every ``where`` holds.

    The row :func:`schedy.server.store.jobs.insert` writes for a RUNNING job, from the parameters of
    :func:`schedy.server.store.jobs.insert_params` (``p_job``, ``p_hps``, …, ``p_heartbeat``, ``p_lease``);
    it returns :data:`schedy.server.store.jobs.COLUMNS`.
    """
    new = store_jobs.new_job_select(experiment_id, literal(RUNNING), RUNNING).where(*where)
    return sql_insert(jobs).from_select(store_jobs.NEW_JOB_COLUMNS, new).returning(*store_jobs.COLUMNS).cte("created")
