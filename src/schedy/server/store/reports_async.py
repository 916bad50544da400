"""Intermediate reports on the event loop (PostgreSQL, :mod:`schedy.server.store.aio`).

A report, as :mod:`schedy.server.store.reports` writes it in a transaction (find the
experiment and the job, renew the job's lease if due, insert the reports), here in **one statement**: data-modifying
common table expressions run together and atomically, so the reports are inserted only if the
lease was renewed, i.e. only for a RUNNING job. The same statement also returns the reports the
caller's early-stopping state has not seen (``pk`` above the one it gives, as committed when the
statement started; at most :data:`UNSEEN_LIMIT`) and the rows it inserted, so a report of an
experiment whose state is current costs one round trip. The state can also read them with
:func:`unseen` and :func:`recent`, the same statements as the synchronous side.

**One plan, made once.** asyncpg prepares the statement once per connection, and PostgreSQL plans a
prepared statement anew at each execution (a *custom* plan, here about 0.3 ms of planning, as much
as the execution itself) unless the plan it can make without the parameters' values (the *generic*
plan) is estimated no dearer. Without a bound, a read of "pk above $1" is estimated at a third of
the table, and the generic plan lost: every report was planned again. So the unseen rows are read
without a join (the state knows jobs by pk) and with a constant ``LIMIT`` (a bound parameter would
be estimated at a tenth of the table): the generic plan, an ordered index scan that stops at the
limit, is then chosen after the first executions. More unseen rows than the limit, rare (one per
report of every other worker since this process last saw the experiment), are read by :func:`unseen`.
"""

from __future__ import annotations

from collections.abc import Container
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from schedy.server.store import reports as store_reports
from schedy.server.store.aio import AsyncConnection
from schedy.server.store.engine import db_now
from schedy.server.store.jobs import LEASE_BEATS, RUNNING
from schedy.server.store.reports import POLICY_COLUMNS, PolicyRow
from schedy.server.store.tables import experiments, jobs, reports

__all__ = ["UNSEEN_LIMIT", "Reported", "recent", "report", "set_stop", "unseen"]

#: At most this many unseen reports come back with a report's statement (see the module docstring).
UNSEEN_LIMIT = 256


class Reported(NamedTuple):
    """What :func:`report` found and did."""

    experiment_id: int
    options: str  # JSON text
    created_at: float
    history_epoch: int
    now: float  # the database clock
    job_status: str | None  # the job's status (None: no such job), read when the statement began
    job_pk: int | None  # None: the job is not RUNNING (nothing was inserted)
    stop_reason: str | None
    lease_expires_at: float | None
    report_pks: list[int]  # the inserted reports' pks, in the order sent
    fresh: list[PolicyRow] | None  # pk above ``after_pk``, and the inserted rows, in pk order; None: read them


@cache
def _report_statement() -> Select[Any]:
    exp = (
        select(experiments.c.id, experiments.c.options, experiments.c.created_at, experiments.c.history_epoch)
        .where(experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name"))
        .cte("exp")
    )
    experiment_id = select(exp.c.id).scalar_subquery()
    interval = jobs.c.heartbeat_interval
    full = db_now() + interval * LEASE_BEATS
    # The job as the statement's snapshot has it, and whether its lease is due for renewal (see
    # store_reports.renewal_due, the same rule): most reports of a job reporting often are not, and leave
    # its row alone (updating an indexed column writes a new entry in every index of the table).
    running = (
        select(
            jobs.c.pk,
            jobs.c.stop_reason,
            jobs.c.lease_expires_at,
            jobs.c.attempt,
            and_(
                interval.is_not(None),
                or_(
                    jobs.c.lease_expires_at.is_(None),
                    jobs.c.lease_expires_at < full - func.least(store_reports.RENEW_SLACK, interval * 0.5),
                ),
            ).label("due"),
        )
        .where(jobs.c.experiment_id == experiment_id, jobs.c.job_id == bindparam("p_job"), jobs.c.status == RUNNING)
        .cte("running")
    )
    bumped = (
        update(jobs)
        .where(jobs.c.pk == select(running.c.pk).where(running.c.due).scalar_subquery(), jobs.c.status == RUNNING)
        .values(lease_expires_at=full)
        .returning(jobs.c.pk, jobs.c.lease_expires_at)
        .cte("bumped")
    )
    # A renewal re-reads the row under its lock: a job that ended meanwhile gets no reports. Without one,
    # the reports count as sent before whatever ends the job concurrently.
    renewed = (
        select(
            running.c.pk,
            running.c.stop_reason,
            func.coalesce(bumped.c.lease_expires_at, running.c.lease_expires_at).label("lease_expires_at"),
            running.c.attempt,
        )
        .select_from(running.outerjoin(bumped, true()))
        .where(or_(bumped.c.pk.is_not(None), not_(running.c.due)))
        .cte("renewed")
    )
    sent = (
        func.unnest(bindparam("p_steps", type_=ARRAY(BigInteger)), bindparam("p_metrics", type_=ARRAY(Text)))
        .table_valued("step", "metrics", with_ordinality="ord")
        .render_derived(name="sent")
    )
    rows = (
        select(experiment_id, renewed.c.pk, sent.c.step, sent.c.metrics, db_now(), renewed.c.attempt)
        .select_from(renewed.join(sent, true()))
        .order_by(sent.c.ord)
    )
    inserted = (
        insert(reports)
        .from_select(["experiment_id", "job_pk", "step", "metrics", "created_at", "attempt"], rows)
        .returning(*POLICY_COLUMNS)
        .cte("inserted")
    )
    # What the caller's policy state has not seen: the rows committed before this statement began (its
    # snapshot does not hold the rows it inserts) with pk above p_after, and the inserted rows. Not read
    # when p_after is negative.
    after_pk = bindparam("p_after", type_=BigInteger)
    seen_before = select(
        *select(*POLICY_COLUMNS)
        .where(reports.c.experiment_id == experiment_id, reports.c.pk > after_pk, after_pk >= 0)
        .order_by(reports.c.pk)
        .limit(literal_column(str(UNSEEN_LIMIT)))  # a constant: see the module docstring
        .subquery("seen_before")
        .c
    )
    mine = select(*inserted.c).where(after_pk >= 0)
    fresh_rows = union_all(seen_before, mine).subquery("fresh_rows")
    by_pk = fresh_rows.c.pk
    fresh = (
        select(
            *(
                func.array_agg(aggregate_order_by(column, by_pk)).label(f"fresh_{column.name}")
                for column in fresh_rows.c
            ),
        )
        .where(after_pk >= 0)
        .subquery("fresh")
    )
    job_status = (
        select(jobs.c.status)
        .where(jobs.c.experiment_id == exp.c.id, jobs.c.job_id == bindparam("p_job"))
        .scalar_subquery()
    )
    pks = select(func.array_agg(inserted.c.pk)).scalar_subquery()
    return select(
        exp.c.id,
        exp.c.options,
        exp.c.created_at,
        exp.c.history_epoch,
        db_now(),
        job_status,
        renewed.c.pk,
        renewed.c.stop_reason,
        renewed.c.lease_expires_at,
        pks,
        *fresh.c,
    ).select_from(exp.outerjoin(renewed, true()).outerjoin(fresh, true()))


async def report(
    conn: AsyncConnection,
    owner_id: int,
    name: str,
    job_id: str,
    items: list[tuple[int, str]],
    after_pk: int | None = None,
) -> Reported | None:
    """Renew the lease of a RUNNING job if due and insert its reports ``(step, metrics JSON)``, in one statement.

    ``None`` if the user has no such experiment. Nothing is inserted when the job is not RUNNING
    (``job_pk`` is then ``None``; ``job_status`` says whether it exists at all, and in what status).
    With ``after_pk``, :attr:`Reported.fresh` holds the experiment's reports with a greater pk
    committed before the statement began, and the ones it inserted, in pk order.
    """
    params = {
        "p_owner": owner_id,
        "p_name": name,
        "p_job": job_id,
        "p_steps": [step for step, _ in items],
        "p_metrics": [metrics for _, metrics in items],
        "p_after": -1 if after_pk is None else after_pk,
    }
    row = await conn.fetch_one(_report_statement, (), params)
    if row is None:
        return None
    exp_id, options, created_at, epoch, now, job_status, job_pk, stop_reason, lease, pks, *fresh = row
    fresh_rows = None
    if after_pk is not None:
        fresh_rows = [PolicyRow._make(r) for r in zip(*(column or [] for column in fresh), strict=True)]
        if len(fresh_rows) - len(pks or ()) >= UNSEEN_LIMIT:  # maybe more: the caller reads them all
            fresh_rows = None
    return Reported(
        int(exp_id),
        str(options),
        float(created_at),
        int(epoch),
        float(now),
        job_status,
        None if job_pk is None else int(job_pk),
        stop_reason,
        None if lease is None else float(lease),
        sorted(pks or []),
        fresh_rows,
    )


async def set_stop(conn: AsyncConnection, job_pk: int, reason: str) -> None:
    """:func:`schedy.server.store.reports.set_stop`: remember once that the job should stop."""
    await conn.run(store_reports._stop_statement, (), {"p_job_pk": job_pk, "p_reason": reason})


async def unseen(conn: AsyncConnection, experiment_id: int, after_pk: int) -> list[PolicyRow]:
    """:func:`schedy.server.store.reports.unseen`: the reports with pk > ``after_pk``, in pk order."""
    rows = await conn.fetch_all(
        store_reports._unseen_statement, (), {"p_experiment": experiment_id, "p_after": after_pk}
    )
    return [PolicyRow._make(r) for r in rows]


async def recent(conn: AsyncConnection, experiment_id: int, since: float, *known: Container[int]) -> list[PolicyRow]:
    """:func:`schedy.server.store.reports.recent`: the reports since ``since`` with a pk in none of ``known``.

    In pk order: the window's pks (one array), then the rows of those not known, usually none.
    """
    row = await conn.fetch_one(
        store_reports._recent_pks_statement, (), {"p_experiment": experiment_id, "p_since": since}
    )
    wanted = store_reports.unknown_pks(None if row is None else row[0], known)
    if not wanted:
        return []
    rows = await conn.fetch_all(store_reports._by_pk_statement, (), {"p_pks": wanted})
    return [PolicyRow._make(r) for r in rows]
