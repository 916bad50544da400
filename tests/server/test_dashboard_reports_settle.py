"""PostgreSQL hands out report keys at insert and commits them in any order: the dashboard never skips one.

The page asks for the reports after the last key it got. A report whose lower key commits after a higher
one was answered would be skipped for good (a curve with a hole, two service processes under load): the
answers stop short of the last seconds' reports, which come in the next answer. Real service, real
PostgreSQL cluster, the out-of-order commit made deterministic by holding one transaction open.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, select, text

from schedy.server.dashboard import service as dashboard_service
from schedy.server.store import Store
from schedy.server.store.tables import experiments, jobs
from schedy.testing import PostgresCluster, ServiceProcess
from tests.security.conftest import login

_INSERT = text(
    "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at, attempt) "
    "VALUES (:e, :j, :step, :metrics, extract(epoch from clock_timestamp()), 1) RETURNING pk"
)


def _steps(http, after: int, **params: str) -> tuple[list[int], int]:
    query = {"after": str(after), **params}
    answer = http.get("dashboard/api/experiments/curves/reports/", params=query)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["step"], body["after"]


def test_a_report_committed_after_a_later_key_still_reaches_the_page(pg_cluster: PostgresCluster, tmp_path: Path):
    database = pg_cluster.new_database()
    with ServiceProcess.start(tmp_path / "home", database) as process:
        user = process.new_user()
        http = login(process.url, user.email, user.api_token)
        store = Store(database, pool_size=2)
        try:
            assert http.put("experiments/curves/", json={"scheduler": {"Manual": None}}).status_code == 201
            assert http.post("experiments/curves/jobs/", json={"hyperparameters": {"x": 1}}).status_code == 201
            assert http.post("experiments/curves/nextjob/", json={"worker": "w"}).status_code == 200
            with store.read() as conn:
                exp = conn.execute(select(experiments.c.id).where(experiments.c.name == "curves")).scalar_one()
                job = conn.execute(select(jobs.c.pk).where(jobs.c.experiment_id == exp)).scalar_one()
            engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
            slow = engine.connect()
            slow_txn = slow.begin()
            low = slow.execute(_INSERT, {"e": exp, "j": job, "step": 1, "metrics": '{"loss": 1}'}).scalar_one()
            with engine.begin() as fast:
                high = fast.execute(_INSERT, {"e": exp, "j": job, "step": 2, "metrics": '{"loss": 2}'}).scalar_one()
            assert low < high  # the lower key, still uncommitted, behind a committed higher one
            for params in ({}, {"perJob": "500"}):
                steps, after = _steps(http, 0, **params)
                assert after < low, (params, steps, after)  # not past the key that has not committed yet
            slow_txn.commit()
            slow.close()
            engine.dispose()
            time.sleep(dashboard_service.SETTLE_SECONDS + 0.5)
            for params in ({}, {"perJob": "500"}):
                steps, after = _steps(http, 0, **params)
                assert sorted(steps) == [1, 2], params  # both, once the last seconds have settled
                assert after >= high
        finally:
            store.dispose()
            http.close()
