"""The statements behind a scheduler's history: what changed since a watermark, and decisions made once.

A scheduler that reads its experiment's history (PBT, and the model-based
searches to come) does not get every job read and decoded on every claim.
:class:`schedy.server.service.history.Histories` keeps each experiment's
jobs in memory, per service process, and asks this module only for:

* :func:`decision_state`: the experiment's decision counter, history epoch,
  RNG state and status, with the database clock;
* :func:`changed_since`: the jobs whose ``updated_at`` is at or after a
  watermark, walking the index ``(experiment_id, updated_at)``, and
  :func:`changed_keys`, the same jobs' keys and versions only;
* :func:`all_of`: every job, when the cache is cold or its epoch is stale.

A decision is committed with :func:`commit_decision`, a compare-and-set on
``decision_seq``: it succeeds only if no decision was committed since the
one the caller's history was read at, so no two processes (or threads) ever
commit decisions made from the same state.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, Update, bindparam, select, update

from schedy.server.store.compiled import compiled, fetch_all, fetch_one, run
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import COLUMNS, DONE, JobRecord
from schedy.server.store.tables import experiments, jobs

__all__ = [
    "DecisionState",
    "all_of",
    "bump_epoch",
    "changed_keys",
    "changed_since",
    "commit_decision",
    "decision_state",
]


class DecisionState(NamedTuple):
    """What a decision starts from, read in the same transaction as the jobs it sees."""

    decision_seq: int
    history_epoch: int
    rng_state: str | None
    status: str
    now: float


@cache
def _state_statement() -> Select[Any]:
    return select(
        experiments.c.decision_seq,
        experiments.c.history_epoch,
        experiments.c.rng_state,
        experiments.c.status,
        db_now(),
    ).where(experiments.c.id == bindparam("p_experiment"))


def decision_state(conn: Connection, experiment_id: int) -> DecisionState | None:
    """The experiment's decision state; ``None`` if it was deleted."""
    row = fetch_one(conn, compiled(conn, _state_statement), {"p_experiment": experiment_id})
    if row is None:
        return None
    seq, epoch, state, status, now = row
    return DecisionState(int(seq), int(epoch), None if state is None else str(state), str(status), float(now))


@cache
def _changed_statement() -> Select[Any]:
    return (
        select(*COLUMNS)
        .where(jobs.c.experiment_id == bindparam("p_experiment"), jobs.c.updated_at >= bindparam("p_since"))
        .order_by(jobs.c.updated_at)
    )


def changed_since(conn: Connection, experiment_id: int, since: float) -> list[JobRecord]:
    """The jobs of the experiment changed at or after ``since`` (database clock)."""
    rows = fetch_all(conn, compiled(conn, _changed_statement), {"p_experiment": experiment_id, "p_since": since})
    return [JobRecord._make(r) for r in rows]


@cache
def _changed_keys_statement() -> Select[Any]:
    return select(jobs.c.pk, jobs.c.version, jobs.c.updated_at).where(
        jobs.c.experiment_id == bindparam("p_experiment"), jobs.c.updated_at >= bindparam("p_since")
    )


def changed_keys(conn: Connection, experiment_id: int, since: float) -> list[tuple[int, int, float]]:
    """``(pk, version, updated_at)`` of the jobs of the experiment changed at or after ``since``: no job's data."""
    rows = fetch_all(conn, compiled(conn, _changed_keys_statement), {"p_experiment": experiment_id, "p_since": since})
    return [(int(pk), int(version), float(updated_at)) for pk, version, updated_at in rows]


@cache
def _all_statement() -> Select[Any]:
    return select(*COLUMNS).where(jobs.c.experiment_id == bindparam("p_experiment")).order_by(jobs.c.pk)


def all_of(conn: Connection, experiment_id: int) -> list[JobRecord]:
    """Every job of the experiment, oldest first."""
    rows = fetch_all(conn, compiled(conn, _all_statement), {"p_experiment": experiment_id})
    return [JobRecord._make(r) for r in rows]


@cache
def _commit_statement(done: bool) -> Update:
    values: dict[str, Any] = {
        "decision_seq": experiments.c.decision_seq + 1,
        "rng_state": bindparam("p_rng"),
        "updated_at": db_now(),
    }
    if done:
        values["status"] = DONE
    return (
        update(experiments)
        .where(
            experiments.c.id == bindparam("p_experiment"),
            experiments.c.decision_seq == bindparam("p_seq"),
            experiments.c.status != DONE,
        )
        .values(**values)
    )


def commit_decision(conn: Connection, experiment_id: int, seq: int, rng_state: str, *, done: bool) -> bool:
    """Record a decision made from decision state ``seq``; ``False`` (nothing written) if another came first.

    Also ``False`` when the experiment became DONE meanwhile. ``done`` marks
    it DONE with this decision.
    """
    params = {"p_experiment": experiment_id, "p_seq": seq, "p_rng": rng_state}
    return run(conn, compiled(conn, _commit_statement, done), params) == 1


def bump_epoch(conn: Connection, experiment_id: int) -> None:
    """Tell every cached history of the experiment that jobs were deleted (they read it afresh)."""
    conn.execute(
        update(experiments)
        .where(experiments.c.id == experiment_id)
        .values(history_epoch=experiments.c.history_epoch + 1)
    )
