"""Load: 64 concurrent workers on two service processes sharing one database, on SQLite and PostgreSQL.

Four worker processes of 16 threads each run the schedy client's loop
(``next_job``, ``with job:``) for a fixed time: a quarter drain a queue
that they refill, the rest ask a random search for new jobs. Workers
alternate between the two service processes. Nothing may fail (not even a
request the client had to retry), no job may be handed out twice, every
result must be stored, and the p50/p99 latency of ``next_job`` is reported.

The default run loads for ``SECONDS``; the ``slow`` variant for a minute.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

import schedy
from schedy.random import Uniform
from schedy.testing import ServiceProcess
from tests.chaos.harness import session

PROCESSES, THREADS = 4, 16
SECONDS, SLOW_SECONDS = 5, 60
LOAD_WORKER = Path(__file__).with_name("load_worker.py")


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _run_load(database_url: str, home: Path, seconds: int, capsys) -> None:
    first = ServiceProcess.start(home / "one", database_url)
    second = ServiceProcess.start(home / "two", database_url)
    try:
        user = first.new_user()
        queue, random = f"queue-{uuid.uuid4().hex[:6]}", f"random-{uuid.uuid4().hex[:6]}"
        with schedy.SchedyDB(config_override=user.client_config) as db:
            db.add_experiment(schedy.ManualSearch(queue))
            db.add_experiment(schedy.RandomSearch(random, {"lr": Uniform(0, 1)}))
            exp = db.get_experiment(queue)
            for i in range(100):
                exp.add_job(hyperparameters={"prefilled": i})
        config = {"urls": [first.url, second.url], "email": user.email, "token": user.api_token}
        config.update(queue=queue, random=random, threads=THREADS, seconds=seconds)
        processes = [
            subprocess.Popen(
                [sys.executable, str(LOAD_WORKER), json.dumps({**config, "first_index": p * THREADS})],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in range(PROCESSES)
        ]
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=seconds + 300)
            assert process.returncode == 0, err
            reports.append(json.loads(out))
        errors = [e for r in reports for e in r["errors"]]
        claimed = [c for r in reports for c in r["claimed"]]
        finished = {job_id: worker for r in reports for job_id, worker in r["finished"].items()}
        latencies = [t for r in reports for t in r["latencies"]]
        assert errors == []
        assert [job_id for job_id, n in Counter(claimed).items() if n > 1] == [], "a job was handed out twice"
        assert len(claimed) > PROCESSES * THREADS  # every worker got work, many times over
        with closing(session(first.url, user)) as http:
            stored = {}
            for name in (queue, random):
                params: dict = {"limit": 5000}
                while True:
                    page = http.get(f"experiments/{name}/jobs/", params=params).json()
                    stored.update((job["id"], job) for job in page["items"])
                    if page["next"] is None:
                        break
                    params["start"] = page["next"]
        lost = [j for j, w in finished.items() if (stored[j]["status"], stored[j]["results"]) != ("DONE", {"by": w})]
        assert lost == [], f"results lost: {lost[:10]}"
        p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
        with capsys.disabled():
            print(
                f"\nload, {database_url.split(':')[0]}, 2 service processes, {PROCESSES * THREADS} workers, "
                f"{seconds} s: {len(claimed)} jobs ({len(claimed) / seconds:.0f}/s), 0 errors, 0 double claims; "
                f"next_job p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms"
            )
    finally:
        second.stop()
        first.stop()


def test_64_workers_on_two_service_processes_run_without_an_error(database_url, tmp_path, capsys):
    _run_load(database_url, tmp_path, SECONDS, capsys)


@pytest.mark.slow
def test_64_workers_for_a_minute_on_two_service_processes_run_without_an_error(database_url, tmp_path, capsys):
    _run_load(database_url, tmp_path, SLOW_SECONDS, capsys)
