"""Intermediate reports of jobs: the statements behind ``job.report`` and the early-stopping state.

Reports are insert-only rows ``(experiment, job, step, metrics, created_at, attempt)``:
``attempt`` is the job's attempt when it sent them (a job set back to QUEUED starts its next
attempt, whose reports the early-stopping policy judges as a new run's).
A report finds its experiment and job (:func:`locate`, one read), renews the
job's lease as a heartbeat does when due (:func:`renew`, :data:`RENEW_SLACK`), is
inserted (:func:`insert_many`), and the early-stopping state of each service
process is built from the experiment's reports in ``pk`` order, in big pages
of plain columns (:func:`columns`), and kept up to date with what others
inserted (:func:`unseen`: the rows after the last ``pk`` seen; on PostgreSQL
also :func:`recent`, for rows committed out of ``pk`` order). The state knows
a job by its pk (:class:`PolicyRow`), so none of these reads joins the jobs;
:func:`after` lists reports with their job's id, for people.
"""

from __future__ import annotations

import json
from collections.abc import Container
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    Select,
    Update,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from schedy.server.store.compiled import compiled, fetch_all, fetch_one, run
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import LEASE_BEATS, RUNNING
from schedy.server.store.tables import experiments, jobs, reports

__all__ = [
    "POLICY_COLUMNS",
    "RENEW_SLACK",
    "Located",
    "PolicyRow",
    "Renewed",
    "ReportRow",
    "Target",
    "after",
    "columns",
    "insert_many",
    "job_page",
    "last_with",
    "locate",
    "recent",
    "renew",
    "renewal_due",
    "set_stop",
    "unknown_pks",
    "unseen",
    "unsettled_from",
]


class Renewed(NamedTuple):
    """A RUNNING job whose lease a report renewed (or found renewed less than :data:`RENEW_SLACK` ago)."""

    pk: int
    stop_reason: str | None
    lease_expires_at: float | None
    attempt: int


#: A report renews its job's lease, unless the lease was renewed less than this many seconds ago (or half
#: a heartbeat interval, if that is shorter): a job reporting many times a second then writes its row
#: about once a second, its lease never more than that short of a full one.
RENEW_SLACK = 1.0


def renewal_due(lease_expires_at: float | None, heartbeat_interval: float | None, now: float) -> bool:
    """Whether a report at ``now`` (the database clock) renews a lease (see :data:`RENEW_SLACK`).

    A lease with no heartbeat interval (the experiment's maximum run time) is a hard cap: never renewed.
    """
    if heartbeat_interval is None:
        return False
    if lease_expires_at is None:
        return True
    full = now + heartbeat_interval * LEASE_BEATS
    return lease_expires_at < full - min(RENEW_SLACK, heartbeat_interval / 2)


class ReportRow(NamedTuple):
    """One report, with its job's id and the job's attempt that sent it."""

    pk: int
    job_id: str
    step: int
    metrics: str  # JSON text
    created_at: float
    attempt: int


class PolicyRow(NamedTuple):
    """One report as the early-stopping state reads it: its job by pk, no join."""

    pk: int
    job_pk: int
    attempt: int
    step: int
    metrics: str  # JSON text
    created_at: float


def _p(name: str) -> Any:
    return bindparam(f"p_{name}")


class Target(NamedTuple):
    """The experiment a report is sent to, with what its early-stopping state needs."""

    id: int
    options: str  # JSON text
    created_at: float
    history_epoch: int
    now: float  # the database clock


class Located(NamedTuple):
    """The experiment a report is sent to, with its job (``job_*`` all ``None``: no such job)."""

    target: Target
    job_pk: int | None
    job_status: str | None
    stop_reason: str | None
    lease_expires_at: float | None
    attempt: int | None
    heartbeat_interval: float | None


@cache
def _locate_statement() -> Select[Any]:
    job = jobs.alias("job")
    return (
        select(
            experiments.c.id,
            experiments.c.options,
            experiments.c.created_at,
            experiments.c.history_epoch,
            db_now(),
            job.c.pk,
            job.c.status,
            job.c.stop_reason,
            job.c.lease_expires_at,
            job.c.attempt,
            job.c.heartbeat_interval,
        )
        .select_from(
            experiments.outerjoin(job, (job.c.experiment_id == experiments.c.id) & (job.c.job_id == _p("job")))
        )
        .where(experiments.c.owner_id == _p("owner"), experiments.c.name == _p("name"))
    )


def locate(conn: Connection, owner_id: int, name: str, job_id: str) -> Located | None:
    """The user's experiment ``name`` and its job ``job_id`` (one statement); ``None``: no such experiment."""
    row = fetch_one(conn, compiled(conn, _locate_statement), {"p_owner": owner_id, "p_name": name, "p_job": job_id})
    if row is None:
        return None
    target = Target(int(row[0]), str(row[1]), float(row[2]), int(row[3]), float(row[4]))
    return Located(target, *row[5:])


@cache
def _renew_statement() -> Update:
    return (
        update(jobs)
        .where(jobs.c.pk == _p("job_pk"), jobs.c.status == RUNNING, jobs.c.heartbeat_interval.is_not(None))
        .values(lease_expires_at=db_now() + jobs.c.heartbeat_interval * LEASE_BEATS)
        .returning(jobs.c.lease_expires_at)
    )


def renew(conn: Connection, job: Located) -> Renewed | None:
    """A report's lease renewal of the RUNNING ``job``, if due (:func:`renewal_due`); ``None``: not RUNNING.

    In the report's write transaction: on SQLite, which has one writer at a time, the job cannot change
    between :func:`locate` and this.
    """
    if job.job_pk is None or job.job_status != RUNNING or job.attempt is None:
        return None
    lease = job.lease_expires_at
    if renewal_due(lease, job.heartbeat_interval, job.target.now):
        row = fetch_one(conn, compiled(conn, _renew_statement), {"p_job_pk": job.job_pk})
        if row is None:
            return None
        lease = float(row[0])
    return Renewed(job.job_pk, job.stop_reason, lease, job.attempt)


@cache
def _insert_statement() -> Insert:
    return (
        insert(reports)
        .values(
            experiment_id=_p("experiment"),
            job_pk=_p("job_pk"),
            step=_p("step"),
            metrics=_p("metrics"),
            created_at=db_now(),
            attempt=_p("attempt"),
        )
        .returning(reports.c.pk, reports.c.created_at)
    )


def insert_many(
    conn: Connection, experiment_id: int, job_pk: int, items: list[tuple[int, str]], attempt: int = 1
) -> list[tuple[int, float]]:
    """Insert the reports ``(step, metrics JSON)`` of the job's ``attempt``, in order; their ``(pk, created_at)``."""
    statement = compiled(conn, _insert_statement)
    done = []
    for step, metrics in items:
        params = {
            "p_experiment": experiment_id,
            "p_job_pk": job_pk,
            "p_step": step,
            "p_metrics": metrics,
            "p_attempt": attempt,
        }
        row = fetch_one(conn, statement, params)
        assert row is not None  # noqa: S101 - an insert returns its row
        done.append((int(row[0]), float(row[1])))
    return done


@cache
def _stop_statement() -> Update:
    return (
        update(jobs)
        .where(jobs.c.pk == _p("job_pk"), jobs.c.status == RUNNING, jobs.c.stop_reason.is_(None))
        .values(stop_reason=_p("reason"))
    )


def set_stop(conn: Connection, job_pk: int, reason: str) -> None:
    """Remember that the job should stop (once: a job already told keeps its first reason)."""
    run(conn, compiled(conn, _stop_statement), {"p_job_pk": job_pk, "p_reason": reason})


_COLUMNS = (reports.c.pk, jobs.c.job_id, reports.c.step, reports.c.metrics, reports.c.created_at, reports.c.attempt)


@cache
def _after_statement(limited: bool) -> Select[Any]:
    query = (
        select(*_COLUMNS)
        .join(jobs, jobs.c.pk == reports.c.job_pk)
        .where(reports.c.experiment_id == _p("experiment"), reports.c.pk > _p("after"))
        .order_by(reports.c.pk)
    )
    return query.limit(_p("limit")) if limited else query


def after(conn: Connection, experiment_id: int, after_pk: int, limit: int | None = None) -> list[ReportRow]:
    """The experiment's reports with pk > ``after_pk``, in pk order (at most ``limit``)."""
    params = {"p_experiment": experiment_id, "p_after": after_pk, "p_limit": limit}
    rows = fetch_all(conn, compiled(conn, _after_statement, limit is not None), params)
    return [ReportRow._make(r) for r in rows]


@cache
def _columns_statement() -> Select[Any]:
    return (
        select(
            reports.c.pk, reports.c.job_pk, reports.c.step, reports.c.metrics, reports.c.created_at, reports.c.attempt
        )
        .where(reports.c.experiment_id == _p("experiment"), reports.c.pk > _p("after"))
        .order_by(reports.c.pk)
        .limit(_p("limit"))
    )


def columns(
    conn: Connection, experiment_id: int, after_pk: int, limit: int
) -> list[tuple[int, int, int, str, float, int]]:
    """Up to ``limit`` reports ``(pk, job pk, step, metrics JSON, created_at, attempt)`` with pk > ``after_pk``.

    In pk order.
    """
    params = {"p_experiment": experiment_id, "p_after": after_pk, "p_limit": limit}
    return fetch_all(conn, compiled(conn, _columns_statement), params)


#: The columns of a :class:`PolicyRow`.
POLICY_COLUMNS = (
    reports.c.pk,
    reports.c.job_pk,
    reports.c.attempt,
    reports.c.step,
    reports.c.metrics,
    reports.c.created_at,
)


@cache
def _unseen_statement() -> Select[Any]:
    return (
        select(*POLICY_COLUMNS)
        .where(reports.c.experiment_id == _p("experiment"), reports.c.pk > _p("after"))
        .order_by(reports.c.pk)
    )


def unseen(conn: Connection, experiment_id: int, after_pk: int) -> list[PolicyRow]:
    """The experiment's reports with pk > ``after_pk``, in pk order, as the early-stopping state reads them."""
    params = {"p_experiment": experiment_id, "p_after": after_pk}
    return [PolicyRow._make(r) for r in fetch_all(conn, compiled(conn, _unseen_statement), params)]


@cache
def _settled_statement() -> Select[Any]:
    return (
        select(reports.c.pk)
        .where(reports.c.experiment_id == _p("experiment"), reports.c.created_at < db_now() - _p("seconds"))
        .order_by(reports.c.created_at.desc())
        .limit(1)
    )


def unsettled_from(conn: Connection, experiment_id: int, seconds: float) -> int | None:
    """PostgreSQL: the key from which the experiment's reports may not all have committed yet.

    A reader that goes on from a key (``after``) must not pass a report that has not committed: PostgreSQL
    hands out keys at insert, not at commit, so a report made at the same moment as a later one may commit
    after it, and a reader past it would never see it. Every report made more than ``seconds`` ago
    (database clock) has committed (a transaction that inserts reports lasts milliseconds), so the key
    after the latest of those is safe to stop at. ``None`` on SQLite (one writer at a time: keys commit in
    order); 1 when no report is that old. Read through ``ix_reports_recent``.
    """
    if conn.dialect.name != "postgresql":
        return None
    params = {"p_experiment": experiment_id, "p_seconds": seconds}
    row = fetch_one(conn, compiled(conn, _settled_statement), params)
    return 1 if row is None else int(row[0]) + 1


@cache
def _recent_pks_statement() -> Select[Any]:
    return select(func.array_agg(reports.c.pk)).where(
        reports.c.experiment_id == _p("experiment"), reports.c.created_at >= _p("since")
    )


@cache
def _by_pk_statement() -> Select[Any]:
    return (
        select(*POLICY_COLUMNS)
        .where(reports.c.pk == any_(bindparam("p_pks", type_=ARRAY(BigInteger))))
        .order_by(reports.c.pk)
    )


def unknown_pks(pks: list[int] | None, known: tuple[Container[int], ...]) -> list[int]:
    """The ``pks`` in none of ``known`` (one C-speed pass per container: thousands of pks per sweep)."""
    out = list(pks or ())
    for container in known:
        out = [pk for pk in out if pk not in container]
    return out


def recent(conn: Connection, experiment_id: int, since: float, *known: Container[int]) -> list[PolicyRow]:
    """PostgreSQL: the reports created at or after ``since`` (database clock) with a pk in none of ``known``.

    In pk order. Two reads: the window's pks (one array), then the rows of those not known, usually none. The
    window is read about once a second by every service process and holds every report of its last
    seconds, which the caller has nearly all seen: only their pks cross the wire.
    """
    row = fetch_one(conn, compiled(conn, _recent_pks_statement), {"p_experiment": experiment_id, "p_since": since})
    wanted = unknown_pks(None if row is None else row[0], known)
    if not wanted:
        return []
    rows = fetch_all(conn, compiled(conn, _by_pk_statement), {"p_pks": wanted})
    return [PolicyRow._make(r) for r in rows]


@cache
def _last_statement() -> Select[Any]:
    return (
        select(reports.c.metrics)
        .where(reports.c.job_pk == bindparam("p_job_pk"), reports.c.attempt == bindparam("p_attempt"))
        .order_by(reports.c.pk.desc())
        .limit(bindparam("p_limit"))
    )


def last_with(conn: Connection, job_pk: int, attempt: int, name: str, limit: int = 100) -> dict[str, Any] | None:
    """The metrics of the latest report of the job's ``attempt`` that has ``name``, among its last ``limit``.

    Reads newest first through the index ``(job_pk, pk)``; a job's last report almost always has the
    metric its policy watches, so this reads one row.
    """
    for (text,) in conn.execute(_last_statement(), {"p_job_pk": job_pk, "p_attempt": attempt, "p_limit": limit}):
        metrics = json.loads(text)
        if isinstance(metrics, dict) and name in metrics:
            return metrics
    return None


@cache
def _job_page_statement() -> Select[Any]:
    return (
        select(reports.c.pk, reports.c.step, reports.c.metrics, reports.c.created_at, reports.c.attempt)
        .where(reports.c.job_pk == _p("job_pk"), reports.c.pk > _p("after"))
        .order_by(reports.c.pk)
        .limit(_p("limit"))
    )


def job_page(conn: Connection, job_pk: int, after_pk: int, limit: int) -> list[tuple[int, int, str, float, int]]:
    """Up to ``limit`` reports ``(pk, step, metrics, created_at, attempt)`` of one job with pk > ``after_pk``."""
    params = {"p_job_pk": job_pk, "p_after": after_pk, "p_limit": limit}
    return [tuple(r) for r in fetch_all(conn, compiled(conn, _job_page_statement), params)]
