"""The claim's query plan on PostgreSQL uses the queue index (a generic plan must not filter the whole table)."""

from __future__ import annotations

import re

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
        conn.execute(
            text(
                "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                "created_at, updated_at) VALUES (1, 'e', 'RUNNING', 'Manual', 'null', '{}', 0, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) SELECT 1, 'j' || g, "
                "CASE WHEN g < 15000 THEN 'DONE' ELSE 'QUEUED' END, "
                "0, '{}', '{}', 1, 0, 0, 1 FROM generate_series(1, 20000) g"
            )
        )
        conn.execute(text("ANALYZE jobs"))
    with pg_store.write() as conn:
        row = store_jobs.claim_queued(conn, 1, None, None)
        assert row is not None
        assert row.job_id == "j15000"
        query = store_jobs.queue_head(1).compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
    assert "ix_jobs_queue" in plan, plan


def _generic_plan(conn, statement, params) -> str:
    """EXPLAIN of ``statement``'s generic plan: what a prepared statement runs after a few executions."""
    compiled = statement.compile(conn)
    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", positional, str(compiled))
    values = {**compiled.params, **params}
    conn.execute(text("SET plan_cache_mode = force_generic_plan"))
    conn.exec_driver_sql(f"PREPARE probe AS {sql}")
    arguments = ", ".join("NULL" if values[n] is None else f"'{values[n]}'" for n in names)
    plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE probe({arguments})"))
    conn.exec_driver_sql("DEALLOCATE probe")
    return plan


def test_the_claims_experiment_lookup_probes_the_queue_through_its_index(pg_store):
    # Another experiment's long queue must not make every claim filter the whole table.
    with pg_store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        for name in ("queue", "random"):
            conn.execute(
                text(
                    "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                    "created_at, updated_at) VALUES (1, :name, 'RUNNING', 'Manual', 'null', '{}', 0, 0)"
                ),
                {"name": name},
            )
        conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) SELECT CASE WHEN g <= 30000 THEN 1 ELSE 2 END, 'j' || g, "
                "CASE WHEN g <= 30000 THEN 'QUEUED' ELSE 'DONE' END, 0, '{}', '{}', 1, 0, 0, 1 "
                "FROM generate_series(1, 50000) g"
            )
        )
        conn.execute(text("ANALYZE"))
    with pg_store.write() as conn:
        found = store_jobs.experiment_and_queue(conn, 1, "random")
        assert found is not None
        assert found[1] is False
        assert store_jobs.experiment_and_queue(conn, 1, "queue")[1] is True
        assert store_jobs.experiment_and_queue(conn, 1, "absent") is None
        statement = store_jobs._experiment_and_queue_statement()
        plan = _generic_plan(conn, statement, {"p_owner": 1, "p_name": "random"})
    assert "ix_jobs_queue" in plan, plan
    assert "Seq Scan on jobs" not in plan, plan


def test_claiming_by_name_takes_the_queue_head_unless_done_in_one_statement(pg_store):
    with pg_store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        for name, status, scheduler in (
            ("big", "RUNNING", "Manual"),
            ("done", "DONE", "Manual"),
            ("pbt", "RUNNING", "PBT"),
            ("small", "RUNNING", "RandomSearch"),
        ):
            conn.execute(
                text(
                    "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                    "created_at, updated_at) VALUES (1, :name, :status, :scheduler, 'null', '{}', 0, 0)"
                ),
                {"name": name, "status": status, "scheduler": scheduler},
            )
        conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) SELECT CASE WHEN g <= 30000 THEN 1 ELSE 1 + g % 4 END, 'j' || g, "
                "CASE WHEN g <= 20000 THEN 'DONE' ELSE 'QUEUED' END, 0, '{}', '{}', 1, 0, 0, 1 "
                "FROM generate_series(1, 30100) g"
            )
        )
        conn.execute(text("ANALYZE"))
    with pg_store.autocommit() as conn:
        exp, job = store_jobs.claim_by_name(conn, 1, "big", "w1", 5.0)
        assert (exp.name, job.job_id, job.status, job.worker) == ("big", "j20001", "RUNNING", "w1")
        assert job.lease_expires_at is not None
        assert store_jobs.claim_by_name(conn, 1, "big", "w1", 5.0)[1].job_id == "j20002"
        # DONE: the experiment, and nothing claimed; any scheduler's queue is served first.
        exp, job = store_jobs.claim_by_name(conn, 1, "done", "w1", 5.0)
        assert (exp.name, job) == ("done", None)
        exp, job = store_jobs.claim_by_name(conn, 1, "pbt", "w1", 5.0)
        assert (exp.name, job.status) == ("pbt", "RUNNING")
        assert store_jobs.claim_by_name(conn, 1, "absent", "w1", 5.0) is None
        queued = conn.execute(text("SELECT count(*) FROM jobs WHERE experiment_id IN (2, 3) AND status = 'QUEUED'"))
        assert queued.scalar_one() == 49
        plan = _generic_plan(
            conn,
            store_jobs._claim_by_name_statement(),
            {"p_owner": 1, "p_name": "small", "p_worker": "w", "p_heartbeat": 5.0, "p_lease": 15.0},
        )
    assert "ix_jobs_queue" in plan, plan
    assert "Seq Scan on jobs" not in plan, plan
