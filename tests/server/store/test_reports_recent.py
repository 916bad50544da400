"""The early-stopping sweep's read on PostgreSQL: the window's pks, then only the rows the state has not seen.

A report can commit after one with a higher pk (sequences hand out pks before commit); the sweep exists to
feed such a row. These tests make that happen with two real transactions.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from schedy.server.service.reports import SWEEP_EVERY, PolicyStates, _Entry
from schedy.server.stopping import ASHA
from schedy.server.store import reports, reports_async
from tests.server.store.test_claim_plan import pg_store  # noqa: F401 - the fixture


def _job(store) -> tuple[int, int]:
    """An experiment with one RUNNING job: ``(experiment id, job pk)``."""
    with store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        exp_id = conn.execute(
            text(
                "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                "created_at, updated_at) VALUES (1, 'e', 'RUNNING', 'Manual', 'null', '{}', 0, 0) RETURNING id"
            )
        ).scalar_one()
        job_pk = conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) VALUES (:e, 'J1', 'RUNNING', 0, '{}', '{}', 1, 0, 0, 1) RETURNING pk"
            ),
            {"e": exp_id},
        ).scalar_one()
    return int(exp_id), int(job_pk)


def _report(store, exp_id: int, job_pk: int, step: int) -> int:
    with store.write() as conn:
        ((pk, _),) = reports.insert_many(conn, exp_id, job_pk, [(step, f'{{"loss": {step}}}')])
    return pk


def _now(store) -> float:
    with store.read() as conn:
        return float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())


def _recent_async(store, exp_id: int, since: float, *known) -> list[reports.PolicyRow]:
    async def read() -> list[reports.PolicyRow]:
        try:
            async with store.aio.connection() as conn:
                return await reports_async.recent(conn, exp_id, since, *known)
        finally:
            await store.aclose()

    # In a thread of its own: a test run before this one (the browser's) may leave an event loop set in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def test_the_sweep_returns_only_the_window_rows_it_was_not_told_of(pg_store):  # noqa: F811 - the fixture
    exp_id, job_pk = _job(pg_store)
    old = _report(pg_store, exp_id, job_pk, 1)
    since = _now(pg_store)
    pks = [_report(pg_store, exp_id, job_pk, step) for step in (2, 3, 4, 5)]
    with pg_store.read() as conn:
        everything = reports.recent(conn, exp_id, since)
        assert [r.pk for r in everything] == pks  # the window only, in pk order, old row left out
        first = everything[0]
        assert (first.job_pk, first.attempt, first.step, first.metrics) == (job_pk, 1, 2, '{"loss": 2}')
        seen = {pks[0]: 0.0, pks[2]: 0.0}
        assert [r.pk for r in reports.recent(conn, exp_id, since, seen, {pks[3]})] == [pks[1]]
        assert reports.recent(conn, exp_id, since, set(pks)) == []
        assert reports.recent(conn, exp_id + 1, since) == []  # another experiment's window is empty
    assert old not in pks
    assert _recent_async(pg_store, exp_id, since, {pks[0]}) == everything[1:]


def test_a_report_committed_after_a_higher_pk_is_found_by_the_next_sweep(pg_store):  # noqa: F811 - the fixture
    exp_id, job_pk = _job(pg_store)
    since = _now(pg_store)
    with pg_store.write() as slow:  # takes its pk first, commits last
        ((late, _),) = reports.insert_many(slow, exp_id, job_pk, [(1, '{"loss": 0.5}')])
        early = _report(pg_store, exp_id, job_pk, 2)
        assert early > late
        with pg_store.read() as conn:
            fed = reports.unseen(conn, exp_id, 0)  # what a state reads now: the higher pk only
            assert [r.pk for r in fed] == [early]
            assert reports.recent(conn, exp_id, since, {early}) == []  # not committed yet: nothing to feed
    with pg_store.read() as conn:
        found = reports.recent(conn, exp_id, since, {early})
    assert [(r.pk, r.step) for r in found] == [(late, 1)]
    assert _recent_async(pg_store, exp_id, since, {early}) == found


def test_a_report_committed_after_a_higher_pk_was_fed_gets_its_verdict_before_the_next_sweep(pg_store):  # noqa: F811
    """The thread-pool path of a report: its own row, below the last pk fed, is fed at once (not a second later).

    Else the worker was told "go on" without its report being judged, and the state stopped the job later,
    unseen: the rungs the dashboard draws then disagreed with what the workers had been told.
    """
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=9)
    entry = _Entry()
    entry.state, entry.stored, entry.epoch = policy.new_state(), "asha", 0
    exp_id, job_pk = _job(pg_store)
    with pg_store.write() as slow:  # takes its pk first, commits last
        ((late, _),) = reports.insert_many(slow, exp_id, job_pk, [(1, '{"loss": 0.5}')])
        early = _report(pg_store, exp_id, job_pk, 2)
        now = _now(pg_store)
        with pg_store.read() as conn:  # another request feeds the higher pk, and sweeps
            fed = PolicyStates.refresh(entry, conn, exp_id, policy, now, sweep=True, own=[early])
        assert [row.pk for row, _ in fed] == [early]
    assert not PolicyStates.sweep_due(entry, now + SWEEP_EVERY / 2)
    with pg_store.read() as conn:  # the slow request, committed, asks for its own report's verdict
        fed = PolicyStates.refresh(entry, conn, exp_id, policy, now + SWEEP_EVERY / 2, sweep=True, own=[late])
    assert [row.pk for row, _ in fed] == [late]
    assert late in entry.seen
