"""PostgreSQL restarting under a running service: workers pause, nothing is lost, no internal error.

A cluster of the test's own is stopped (a fast shutdown, as for an upgrade
or a failover) and started again while a worker loop runs. Before, every
request in those seconds was a 500 and the worker's loop died with its
job's result.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

import schedy
from schedy.random import Uniform
from schedy.testing import ServiceProcess
from tests.dashboard import fill

UNREACHABLE = (
    "The service cannot reach its database right now (it may be restarting), so nothing of this request was "
    "done; send it again in a few seconds (retry after 2 s)."
)
LOST = (
    "The service lost its connection to its database during this request, so it may or may not have been "
    "applied; look before sending it again unless it is safe to repeat."
)


@pytest.fixture
def service(service_on_own_cluster: ServiceProcess) -> ServiceProcess:
    """The service of this module's tests: on a cluster of the test's own (tests/conftest.py)."""
    return service_on_own_cluster


def test_a_worker_loop_rides_out_a_database_restart_with_every_result_kept(own_cluster, service):
    user = service.new_user()
    total = 80
    with schedy.SchedyDB(config_override=user.client_config, heartbeat=5) as db:  # leases of 15 s
        exp = db.add_experiment(schedy.RandomSearch("restart", {"x": Uniform(0, 1)}, max_jobs=total))
        failures: list[str] = []
        finished: list[str] = []

        def worker() -> None:
            try:
                for job in exp.jobs(wait=1):
                    with job:
                        time.sleep(0.02)
                        job.results["y"] = job.hyperparameters["x"]
                    if job.lost is None:
                        finished.append(job.job_id)
            except Exception as exc:  # what the user would see: the loop dying
                failures.append(repr(exc))

        thread = threading.Thread(target=worker)
        thread.start()
        deadline = time.monotonic() + 60
        while len(finished) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        own_cluster.pause()
        time.sleep(3)
        own_cluster.resume()
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert failures == []
        jobs = exp.all_jobs()
        assert Counter(j.status for j in jobs) == {"DONE": total}
        assert len(set(finished)) == len(finished) == total  # each job once, none lost
        assert all(j.results["y"] == j.hyperparameters["x"] for j in jobs)
    log = service.log()
    assert "The database cannot be reached" in log
    assert "Traceback" not in log


def test_while_the_database_is_down_a_request_is_answered_503_or_502_and_adds_nothing(own_cluster, service):
    api = fill.client(service.new_user())
    made = api.put("experiments/down/", content=json.dumps({"scheduler": {"Manual": None}}))
    assert made.status_code in (200, 201), made.text
    body = json.dumps({"hyperparameters": {"x": 1}, "status": "QUEUED"})
    assert api.post("experiments/down/jobs/", content=body).status_code == 201
    own_cluster.pause()
    try:
        seen = []
        for _ in range(20):  # connections the pool held answer once each that they broke (502), then 503
            answer = api.post("experiments/down/jobs/", content=body)
            seen.append(answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"] == (UNREACHABLE if answer.status_code == 503 else LOST), seen
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "2"
                break
        assert seen[-1] == 503, seen
        assert set(seen) <= {502, 503}
        reading = api.get("experiments/down/jobs/")
        assert reading.status_code in (502, 503), reading.text
    finally:
        own_cluster.resume()
    # Back: reads and writes work, and no answered-but-failed add was applied.
    deadline = time.monotonic() + 30
    while (listed := api.get("experiments/down/jobs/")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(listed.json()["items"]) == 1
    assert api.post("experiments/down/jobs/", content=body).status_code == 201
    api.close()
