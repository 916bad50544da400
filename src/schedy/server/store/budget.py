"""An experiment's job budget (the ``maxJobs`` option): spent once per new job, atomically.

``jobs_created`` counts the jobs the experiment's search created (jobs added
by hand and retries are not counted). :func:`spend` takes one unit in one
statement that succeeds only while the budget lasts, so any number of claims
in any number of service processes create at most ``maxJobs`` jobs.
:func:`finish_if_idle` ends the experiment once its budget is spent and no
job is QUEUED or RUNNING.
"""

from __future__ import annotations

import json
from functools import cache

from sqlalchemy import ColumnElement, Connection, Integer, Select, Update, bindparam, exists, func, select, update

from schedy.server.store.compiled import compiled, fetch_one, run
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import DONE, QUEUED, RUNNING
from schedy.server.store.tables import experiments, jobs

__all__ = [
    "created",
    "finish_if_idle",
    "has_work",
    "max_jobs",
    "recount",
    "search_created",
    "spend",
    "spend_update",
    "spent",
]


def max_jobs(options: str) -> int | None:
    """The experiment's ``maxJobs`` option, if set (stored options, JSON text)."""
    if "maxJobs" not in options:  # most experiments: no parse
        return None
    value = json.loads(options).get("maxJobs")
    return None if value is None else int(value)


def spend_update(*where: ColumnElement[bool]) -> Update:
    """The ``UPDATE`` taking one unit of a budget of ``p_limit`` jobs from the experiment where ``where`` holds.

    It changes nothing unless a unit is left and the experiment is not DONE. Those two conditions
    are the row's own, so a claim that waited for a concurrent one to take the last unit has them
    checked again by PostgreSQL on the row that claim committed. The statement of :func:`spend`, and
    a part of the one-statement claims of :mod:`schedy.server.store.jobs_async`.
    """
    return (
        update(experiments)
        .where(
            *where,
            experiments.c.jobs_created < bindparam("p_limit", type_=Integer),
            experiments.c.status != DONE,
        )
        .values(jobs_created=experiments.c.jobs_created + 1)
    )


@cache
def _spend_statement() -> Update:
    return spend_update(experiments.c.id == bindparam("p_experiment"))


def spend(conn: Connection, experiment_id: int, limit: int) -> bool:
    """Take one job from the budget; ``False`` (nothing written) if it is spent or the experiment is DONE."""
    # Compiled once (a claim's hot path): through SQLAlchemy's execute, this and created() cost a
    # budgeted claim on SQLite 2-3x the time of one without a budget.
    params = {"p_experiment": experiment_id, "p_limit": limit}
    return run(conn, compiled(conn, _spend_statement), params) == 1


@cache
def _created_statement() -> Select[tuple[int]]:
    return select(experiments.c.jobs_created).where(experiments.c.id == bindparam("p_experiment"))


def created(conn: Connection, experiment_id: int) -> int | None:
    """How many jobs the experiment's search created (the budget's count); ``None``: no such experiment."""
    row = fetch_one(conn, compiled(conn, _created_statement), {"p_experiment": experiment_id})
    return None if row is None else int(row[0])


def spent(conn: Connection, experiment_id: int, limit: int) -> bool:
    """Whether the budget is spent (a read: :func:`spend` decides)."""
    used = created(conn, experiment_id)
    return used is None or used >= limit


def has_work(conn: Connection, experiment_id: int) -> bool:
    """Whether a job of the experiment is QUEUED or RUNNING (one probe of the queue index)."""
    busy = exists().where(jobs.c.experiment_id == experiment_id, jobs.c.status.in_((QUEUED, RUNNING)))
    return bool(conn.execute(select(busy)).scalar())


def finish_if_idle(conn: Connection, experiment_id: int) -> bool:
    """Mark the experiment DONE if no job is QUEUED or RUNNING; whether it is DONE now."""
    busy = exists().where(jobs.c.experiment_id == experiment_id, jobs.c.status.in_((QUEUED, RUNNING)))
    conn.execute(
        update(experiments)
        .where(experiments.c.id == experiment_id, experiments.c.status != DONE, ~busy)
        .values(status=DONE, updated_at=db_now())
    )
    return not has_work(conn, experiment_id)


def _made_by_search(experiment_id: int) -> ColumnElement[bool]:
    """The experiment's jobs its search created (what a budget counts): those a claim inserted.

    Without a budget nothing counts new jobs as they are made (a claim is one INSERT): a claim marks the
    rows it inserts (``made_by_search``), and jobs added by hand (queued, running or finished), imports
    and retries are not marked. Rows older than the column were marked by their times when it was added
    (migration 0013).
    """
    return (jobs.c.experiment_id == experiment_id) & jobs.c.made_by_search


def search_created(conn: Connection, experiment_id: int) -> int:
    """How many jobs the experiment's search created, counted from its jobs (see :func:`_made_by_search`)."""
    return int(conn.execute(select(func.count()).where(_made_by_search(experiment_id))).scalar_one())


def recount(conn: Connection, experiment_id: int) -> None:
    """Make :func:`search_created` the budget's count: a ``maxJobs`` set on a search that already ran."""
    made = select(func.count()).where(_made_by_search(experiment_id)).scalar_subquery()
    conn.execute(update(experiments).where(experiments.c.id == experiment_id).values(jobs_created=made))
