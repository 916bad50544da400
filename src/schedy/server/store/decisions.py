"""A scheduler's decision committed in one statement (PostgreSQL, autocommit).

:mod:`schedy.server.service.claims` commits a decision made from the history
as a compare-and-set on the experiment's ``decision_seq``
(:func:`schedy.server.store.history.commit_decision`), then appends its
events and inserts its new job RUNNING for the claiming worker. In a
transaction on PostgreSQL that is five round trips (BEGIN, three statements,
COMMIT). Here the same writes are data-modifying common table expressions of
one statement, atomic alone: the events and the job are written only if the
compare-and-set succeeded. The job's row is the one
:func:`schedy.server.store.jobs.insert` would write (same columns, lease and
clock).
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Select,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import true as sql_true
from sqlalchemy.dialects.postgresql import ARRAY

from schedy.server.store import jobs as store_jobs
from schedy.server.store.claims import NewRow, running_params
from schedy.server.store.compiled import compiled, fetch_one
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import DONE, JobRecord
from schedy.server.store.jobs_async import created_running
from schedy.server.store.tables import experiment_events, experiments

__all__ = ["Committed", "commit_and_insert"]


class Committed(NamedTuple):
    """What :func:`commit_and_insert` did."""

    won: bool  # False: another decision came first (or the experiment is DONE); nothing was written
    job: JobRecord | None


@cache
def _statement(done: bool) -> Select[Any]:
    values: dict[str, Any] = {
        "decision_seq": experiments.c.decision_seq + 1,
        "rng_state": bindparam("p_rng", type_=Text),
        "updated_at": db_now(),
    }
    if done:
        values["status"] = DONE
    won = (
        update(experiments)
        .where(
            experiments.c.id == bindparam("p_experiment", type_=Integer),
            experiments.c.decision_seq == bindparam("p_seq", type_=Integer),
            experiments.c.status != DONE,
        )
        .values(**values)
        .returning(experiments.c.id)
        .cte("won")
    )
    payloads = func.unnest(bindparam("p_events", type_=ARRAY(Text)))
    logged = (
        insert(experiment_events)
        .from_select(["experiment_id", "created_at", "payload"], select(won.c.id, db_now(), payloads))
        .returning(experiment_events.c.id)
        .cte("logged")
    )
    created = created_running(won.c.id, bindparam("p_has_job", type_=Boolean))
    counts = select(
        select(func.count()).select_from(won).scalar_subquery().label("won"),
        select(func.count()).select_from(logged).scalar_subquery().label("logged"),
    ).cte("counts")
    return select(counts.c.won, *created.c).select_from(counts.outerjoin(created, sql_true()))


def commit_and_insert(
    conn: Connection,
    experiment_id: int,
    seq: int,
    rng_state: str,
    events: list[str],
    new: NewRow | None,
    worker: str | None,
    heartbeat: float | None,
    max_run_time: float | None,
    *,
    done: bool,
) -> Committed:
    """Record a decision made from decision state ``seq``, its events and its new job, in one statement.

    ``conn`` is a PostgreSQL connection in autocommit mode (:meth:`schedy.server.store.Store.autocommit`).

    Raises:
        sqlalchemy.exc.IntegrityError: the new job's id is taken (nothing written; decide again).

    """
    job = new if new is not None else NewRow("{}", "{}")  # not inserted: p_has_job is false
    params: dict[str, Any] = {
        **running_params(experiment_id, job, worker, heartbeat, max_run_time),
        "p_seq": seq,
        "p_rng": rng_state,
        "p_events": events,
        "p_has_job": new is not None,
    }
    row = fetch_one(conn, compiled(conn, _statement, done), params)
    assert row is not None  # noqa: S101 - the counts row is always there
    won, *created = row
    if not won:
        return Committed(False, None)
    return Committed(True, store_jobs.record(tuple(created)) if new is not None else None)
