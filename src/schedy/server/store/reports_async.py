"""Intermediate reports on the event loop (PostgreSQL, :mod:`schedy.server.store.aio`).

A report, as :mod:`schedy.server.store.reports` writes it in a transaction (find the
experiment, renew the job's lease, insert the reports), here in **one statement**: data-modifying
common table expressions run together and atomically, so the reports are inserted only if the
lease was renewed, i.e. only for a RUNNING job. The same statement also returns the reports the
caller's early-stopping state has not seen (``pk`` above the one it gives, as committed when the
statement started) and the rows it inserted, so a report of an experiment whose state is current
costs one round trip. The state can also read them with :func:`after` and :func:`recent`, the
same statements as the synchronous side.
"""

from __future__ import annotations

from collections.abc import Container
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    bindparam,
    cast,
    func,
    insert,
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
from schedy.server.store.reports import ReportRow
from schedy.server.store.tables import experiments, jobs, reports

__all__ = ["Reported", "after", "recent", "report", "set_stop"]


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
    fresh: list[ReportRow] | None  # pk above ``after_pk``, and the inserted rows, in pk order; None if not asked


@cache
def _report_statement() -> Select[Any]:
    exp = (
        select(experiments.c.id, experiments.c.options, experiments.c.created_at, experiments.c.history_epoch)
        .where(experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name"))
        .cte("exp")
    )
    experiment_id = select(exp.c.id).scalar_subquery()
    interval = jobs.c.heartbeat_interval
    renewed = (
        update(jobs)
        .where(jobs.c.experiment_id == experiment_id, jobs.c.job_id == bindparam("p_job"), jobs.c.status == RUNNING)
        .values(
            lease_expires_at=func.coalesce(db_now() + interval * LEASE_BEATS, jobs.c.lease_expires_at),
        )
        .returning(jobs.c.pk, jobs.c.stop_reason, jobs.c.lease_expires_at, jobs.c.attempt)
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
        .returning(reports.c.pk, reports.c.step, reports.c.metrics, reports.c.created_at, reports.c.attempt)
        .cte("inserted")
    )
    # What the caller's policy state has not seen: the rows committed before this statement began (its
    # snapshot does not hold the rows it inserts) with pk above p_after, and the inserted rows. Not read
    # when p_after is negative.
    after_pk = bindparam("p_after", type_=BigInteger)
    seen_before = (
        select(reports.c.pk, jobs.c.job_id, reports.c.step, reports.c.metrics, reports.c.created_at, reports.c.attempt)
        .join(jobs, jobs.c.pk == reports.c.job_pk)
        .where(reports.c.experiment_id == experiment_id, reports.c.pk > after_pk, after_pk >= 0)
    )
    mine = select(
        inserted.c.pk,
        cast(bindparam("p_job"), Text),
        inserted.c.step,
        inserted.c.metrics,
        inserted.c.created_at,
        inserted.c.attempt,
    ).where(after_pk >= 0)
    fresh_rows = union_all(seen_before, mine).subquery("fresh_rows")
    by_pk = fresh_rows.c.pk
    fresh = (
        select(
            func.array_agg(aggregate_order_by(fresh_rows.c.pk, by_pk)).label("pks"),
            func.array_agg(aggregate_order_by(fresh_rows.c.job_id, by_pk)).label("job_ids"),
            func.array_agg(aggregate_order_by(fresh_rows.c.step, by_pk)).label("steps"),
            func.array_agg(aggregate_order_by(fresh_rows.c.metrics, by_pk)).label("metrics"),
            func.array_agg(aggregate_order_by(fresh_rows.c.created_at, by_pk)).label("times"),
            func.array_agg(aggregate_order_by(fresh_rows.c.attempt, by_pk)).label("attempts"),
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
        fresh.c.pks,
        fresh.c.job_ids,
        fresh.c.steps,
        fresh.c.metrics,
        fresh.c.times,
        fresh.c.attempts,
    ).select_from(exp.outerjoin(renewed, true()).outerjoin(fresh, true()))


async def report(
    conn: AsyncConnection,
    owner_id: int,
    name: str,
    job_id: str,
    items: list[tuple[int, str]],
    after_pk: int | None = None,
) -> Reported | None:
    """Renew the lease of a RUNNING job and insert its reports ``(step, metrics JSON)``, in one statement.

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
        fresh_rows = [ReportRow._make(r) for r in zip(*(column or [] for column in fresh), strict=True)]
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


async def after(conn: AsyncConnection, experiment_id: int, after_pk: int) -> list[ReportRow]:
    """:func:`schedy.server.store.reports.after` (no limit): the reports with pk > ``after_pk``, in pk order."""
    rows = await conn.fetch_all(
        store_reports._after_statement, (False,), {"p_experiment": experiment_id, "p_after": after_pk}
    )
    return [ReportRow._make(r) for r in rows]


async def recent(conn: AsyncConnection, experiment_id: int, since: float, *known: Container[int]) -> list[ReportRow]:
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
    return [ReportRow._make(r) for r in rows]
