"""The claim's query plan on PostgreSQL uses the queue index (BENCH.md's planner trap)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from schedy.server.store import Store, migrate
from schedy.server.store import jobs as store_jobs


@pytest.fixture
def pg_store(pg_cluster):
    store = Store(pg_cluster.new_database())
    migrate.upgrade(store)
    yield store
    store.dispose()


def test_claim_walks_the_queue_index_after_many_claims(pg_store):
    with pg_store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        conn.execute(text("INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                          "created_at, updated_at) VALUES (1, 'e', 'RUNNING', 'Manual', 'null', '{}', 0, 0)"))
        conn.execute(text(
            "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
            "created_at, updated_at, attempt) SELECT 1, 'j' || g, CASE WHEN g < 15000 THEN 'DONE' ELSE 'QUEUED' END, "
            "0, '{}', '{}', 1, 0, 0, 1 FROM generate_series(1, 20000) g"))
        conn.execute(text("ANALYZE jobs"))
    with pg_store.write() as conn:
        row = store_jobs.claim_queued(conn, 1, None, None)
        assert row is not None
        assert row.job_id == "j15000"
        query = store_jobs.queue_head(1).compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
    assert "ix_jobs_queue" in plan, plan
