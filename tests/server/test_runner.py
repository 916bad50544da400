"""``schedy server --workers N``: several service processes on one port and one database."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

import schedy
from schedy.errors import NoJobError
from schedy.testing import ServiceProcess
from tests.server.conftest import worker_processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_workers_hand_out_every_job_exactly_once_then_stop_with_the_server(tmp_path, database_url):
    with ServiceProcess.start(tmp_path / "home", database_url, extra_args=("--workers", "2")) as service:
        user = service.new_user()
        assert len(worker_processes(service.process.pid)) >= 2
        with schedy.SchedyDB(config_override=user.client_config) as db:
            db.add_experiment(schedy.ManualSearch("queue"))
            exp = db.get_experiment("queue")
            for i in range(60):
                exp.add_job(hyperparameters={"i": i})
        claimed: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            # Each worker its own connection, so that both processes take claims.
            with schedy.SchedyDB(config_override=user.client_config, heartbeat=0) as mine:
                queue = mine.get_experiment("queue")
                while True:
                    try:
                        job = queue.next_job()
                    except NoJobError:
                        return
                    with job:
                        job.results["ok"] = 1
                    with lock:
                        claimed.append(job.job_id)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        children = worker_processes(service.process.pid)
    assert len(claimed) == 60
    assert len(set(claimed)) == 60
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in children)


def test_workers_must_be_a_sensible_number(tmp_path):
    with pytest.raises(RuntimeError, match="--workers must be between 1 and 256"):
        ServiceProcess.start(tmp_path / "home", extra_args=("--workers", "0"))
