"""A random search's one-statement claim on PostgreSQL: its generic plan walks the indexes.

asyncpg prepares every statement, and PostgreSQL switches a prepared statement to a generic plan
after a few executions: that plan must probe the queue through its index, not scan the jobs of
every other experiment, and find the experiment (whose budget a ``maxJobs`` search takes in the
same statement) by its keys, not scan every experiment (tests/server/store/test_claim_plan.py
checks the other claim statements).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from schedy.server.store import jobs_async
from tests.server.store.test_claim_plan import _generic_plan, pg_store  # noqa: F401 - the fixture


@pytest.mark.parametrize("budgeted", [False, True], ids=["no-budget", "maxJobs"])
def test_the_one_statement_claim_probes_the_queue_through_its_index(pg_store, budgeted):  # noqa: F811 - the fixture
    with pg_store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        for name, scheduler in (("queue", "Manual"), ("random", "RandomSearch")):
            conn.execute(
                text(
                    "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                    "created_at, updated_at) VALUES (1, :name, 'RUNNING', :scheduler, 'null', '{}', 0, 0)"
                ),
                {"name": name, "scheduler": scheduler},
            )
        conn.execute(  # other users' experiments: the experiment is found (and its budget taken) by index
            text(
                "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, created_at, "
                "updated_at) SELECT 1, 'other' || g, 'RUNNING', 'Manual', 'null', '{}', 0, 0 "
                "FROM generate_series(1, 5000) g"
            )
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
        params = {
            "p_owner": 1,
            "p_name": "random",
            "p_worker": "w",
            "p_heartbeat": 5.0,
            "p_lease": 15.0,
            "p_job": "new",
            "p_hps": "{}",
            "p_results": "{}",
            "p_member": None,
            "p_generation": None,
            "p_parent": None,
            "p_attempt": 1,
            "p_scheduler": "RandomSearch",
            "p_params": "null",
            "p_options": "{}",
            **({"p_limit": 100} if budgeted else {}),
        }
        plan = _generic_plan(conn, jobs_async._claim_or_create_statement(budgeted), params)
    assert "ix_jobs_queue" in plan, plan
    assert "Seq Scan on jobs" not in plan, plan
    assert "Seq Scan on experiments" not in plan, plan
