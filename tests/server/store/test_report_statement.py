"""PostgreSQL: a report's one statement, planned once, and the unseen reports it brings back, bounded.

PostgreSQL plans a prepared statement again at every execution unless its generic plan (made without the
parameters' values) is estimated no dearer; the report statement used to lose that comparison and paid its
planning at every report. These tests hold the real statement to a generic plan on a table of a realistic
size, and check that a state far behind (more unseen reports than the statement brings back) is still fed
every report.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.service.reports import Reports, policy_of
from schedy.server.store import Store, reports_async, users
from schedy.server.store import experiments as store_experiments
from schedy.server.wire import JobInput, dumps, parse_experiment
from tests.server.store.test_claim_plan import pg_store  # noqa: F401 - the fixture

ASHA = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3}}


def _experiment(store: Store) -> tuple[int, Any]:
    """A user and an ASHA experiment "e": ``(owner, experiment record)``."""
    with store.write() as conn:
        owner = users.create(conn, "plan@example.com", None)
    body = {"scheduler": {"Manual": {}}, "earlyStopping": ASHA}
    Experiments(store).put(owner, "e", parse_experiment(json.dumps(body).encode()), create_only=True)
    with store.read() as conn:
        return owner, store_experiments.get_record(conn, owner, "e")


def _running(store: Store, owner: int) -> str:
    added = Jobs(store).add(owner, "e", JobInput(status="QUEUED", hyperparameters={}))
    claimed = Claims(store).claim(owner, "e", worker="w", heartbeat=30.0)
    assert claimed is not None
    assert claimed.job_id == added.job_id
    return added.job_id


def _on_loop(store: Store, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def run() -> Any:
        try:
            return await work()
        finally:
            await store.aclose()

    # In a thread of its own: a test run before this one (the browser's) may leave an event loop set in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_the_report_statement_gets_a_generic_plan_on_a_table_of_20k_reports(pg_store):  # noqa: F811
    owner, exp = _experiment(pg_store)
    job_id = _running(pg_store, owner)
    with pg_store.write() as conn:  # 2,000 finished jobs of 10 reports each
        conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) SELECT :e, 'done' || g, 'DONE', 0, '{}', '{}', 1, 0, 0, 1 "
                "FROM generate_series(1, 2000) g"
            ),
            {"e": exp.id},
        )
        conn.execute(
            text(
                "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at, attempt) "
                "SELECT :e, j.pk, s, '{\"loss\": 0.5}', 0, 1 FROM jobs j, generate_series(1, 10) s "
                "WHERE j.experiment_id = :e AND j.status = 'DONE' ORDER BY j.pk, s"
            ),
            {"e": exp.id},
        )
        conn.execute(text("ANALYZE"))
        seen = conn.execute(text("SELECT max(pk) FROM reports")).scalar_one()  # as a state that saw them all

    async def report_twelve_times() -> list[tuple[int, int]]:
        assert pg_store.aio is not None
        async with pg_store.aio.connection() as conn:
            after = seen
            for step in range(12):
                done = await reports_async.report(conn, owner, "e", job_id, [(step, dumps({"loss": 0.1}))], after)
                assert done is not None
                assert done.fresh is not None
                after = max(row.pk for row in done.fresh)
            rows = await conn._conn.fetch(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'WITH exp AS%INSERT INTO reports%'"
            )
            return [(int(r[0]), int(r[1])) for r in rows]

    [(generic, custom)] = _on_loop(pg_store, report_twelve_times)
    # PostgreSQL makes five custom plans first, then compares; a statement that lost would stay at 12 custom.
    assert (generic, custom) == (7, 5)


def test_a_state_more_reports_behind_than_the_statement_brings_back_is_fed_them_all(pg_store):  # noqa: F811
    owner, exp = _experiment(pg_store)
    behind, busy = _running(pg_store, owner), _running(pg_store, owner)
    ours = Reports(pg_store)

    async def first() -> None:
        assert not (await ours.report_async(owner, "e", behind, [(1, dumps({"loss": 0.5}))])).stop

    _on_loop(pg_store, first)
    # Meanwhile another job's reports arrive elsewhere, more than one statement brings back, older than the
    # sweep's window (so only the read of unseen rows can find them); only the last one passes rungs 3 … 243.
    with pg_store.write() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at, attempt) "
                "SELECT :e, j.pk, CASE WHEN g = :n THEN 300 ELSE 1 END, '{\"loss\": 0.25}', "
                "extract(epoch FROM now()) - 100, 1 FROM jobs j, generate_series(1, :n) g "
                "WHERE j.experiment_id = :e AND j.job_id = :busy ORDER BY g"
            ),
            {"e": exp.id, "busy": busy, "n": reports_async.UNSEEN_LIMIT + 44},
        )

    async def second() -> Any:
        return await ours.report_async(owner, "e", behind, [(2, dumps({"loss": 0.4}))])

    assert not _on_loop(pg_store, second).stop
    entry = ours.states.peek(exp.id, exp.created_at)
    assert entry is not None
    with pg_store.read() as conn:
        assert entry.max_pk == conn.execute(text("SELECT max(pk) FROM reports")).scalar_one()
    found = policy_of(exp.options)
    assert found is not None
    # The state has the busy job at every rung its last report passed, as one built from every report has.
    rungs = found[0].rungs(entry.state)
    assert rungs == Reports(pg_store).summary(owner, "e")["rungs"]
    assert [(r["step"], r["jobs"]) for r in rungs] == [(1, 2), (3, 1), (9, 1), (27, 1), (81, 1), (243, 1)]
