"""The dashboard's heavy reads take turns, so the worker loop keeps the interpreter (hunt 6).

A full read of every job, a download's records and the reports thinned for curves render thousands
of rows in Python threads of the process that serves claims: one runs at a time per process, the
others wait their turn. Shown on PostgreSQL, where a table lock holds a read inside its turn: a
download asked meanwhile answers its first line and then waits; both complete once the lock goes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from schedy.testing import PostgresCluster, ServiceProcess
from tests.dashboard import fill

API = "dashboard/api/experiments/"


@pytest.fixture
def site(pg_cluster: PostgresCluster, tmp_path: Path) -> Iterator[tuple[ServiceProcess, str, Any]]:
    url = pg_cluster.new_database()
    process = ServiceProcess.start(tmp_path / "home", url)
    yield process, url, process.new_user()
    process.stop()


def _waiting_on_a_lock(engine: sqlalchemy.Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%reports%'"
        return int(conn.execute(sqlalchemy.text(query)).scalar_one())


def test_a_download_waits_for_the_heavy_read_before_it_then_both_complete(site):
    _process, url, user = site
    api = fill.client(user)
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(api, fill.exp_path("curves"), {"scheduler": {"RandomSearch": space}})
    job = api.post(fill.exp_path("curves") + "nextjob/", json={"heartbeat": 600}).json()
    for step in range(20):
        body = {"step": step, "metrics": {"loss": 1 / (step + 1)}}
        assert api.post(fill.exp_path("curves") + f"jobs/{job['id']}/reports/", json=body).status_code in (200, 201)
    fill.put(api, fill.exp_path("table"), {"scheduler": {"RandomSearch": space}})
    for i in range(30):
        done = {"status": "DONE", "hyperparameters": {"x": i / 30}, "results": {"loss": i}}
        assert api.post(fill.exp_path("table") + "jobs/", content=json.dumps(done)).status_code == 201

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    curves: list[httpx.Response] = []
    download: list[str] = []
    with engine.connect() as lock:
        lock.execute(sqlalchemy.text("LOCK TABLE reports IN ACCESS EXCLUSIVE MODE"))
        # The curves' read takes its turn, then waits for the lock on the reports.
        first = threading.Thread(target=lambda: curves.append(api.get(API + "curves/reports/?perJob=5")))
        first.start()
        deadline = time.monotonic() + 30
        while _waiting_on_a_lock(engine) == 0:
            assert time.monotonic() < deadline, "the curves' read never reached the locked table"
            time.sleep(0.05)

        # A download of another experiment, which needs no locked table: its first line, then its turn.
        other = fill.client(user)

        def read_download() -> None:
            with other.stream("GET", API + "table/records/") as answer:
                assert answer.status_code == 200
                for text in answer.iter_text():
                    download.append(text)

        second = threading.Thread(target=read_download)
        second.start()
        time.sleep(2.0)
        sent = "".join(download)
        assert '"id"' not in sent, f"the download ran beside the heavy read before it: {sent[:200]!r}"
        assert first.is_alive()
        assert second.is_alive()
        lock.rollback()  # the lock goes: the curves' read ends, then the download takes its turn
    first.join(30)
    second.join(30)
    assert not first.is_alive()
    assert not second.is_alive()
    assert curves[0].status_code == 200, curves[0].text
    assert len(curves[0].json()["step"]) <= 20  # PostgreSQL keeps the last 2 s' reports for the next answer
    records = json.loads("".join(download))["jobs"]
    assert sorted(r["results"]["loss"] for r in records) == list(range(30))
    engine.dispose()
    other.close()
    api.close()
