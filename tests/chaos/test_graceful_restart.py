"""A service stopped gracefully (SIGTERM: systemd, a deploy, Ctrl-C) and started again keeps its idle workers.

A worker waiting for work long-polls ``nextjob``. uvicorn gives requests in
flight a few seconds at shutdown, then cancels them, and a cancelled request
used to be answered 500, which ended the worker's loop. The long poll now
ends at once with a 503 the worker rides out like any outage.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import schedy
from schedy.testing import ServiceProcess
from tests.chaos.harness import poll

_WORKER = """
import sys, schedy
db = schedy.SchedyDB(config_override={"root": sys.argv[1], "email": sys.argv[2], "token": sys.argv[3],
                                      "token_type": "api_token"})
for job in db.get_experiment(sys.argv[4]).jobs(idle_timeout=120):
    with job:
        job.results["ran"] = 1
    print("ran", job.job_id, flush=True)
    break
"""


def test_a_worker_waiting_for_work_survives_a_graceful_restart(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    service = ServiceProcess.start(home, database_url)
    try:
        user = service.new_user()
        db = schedy.SchedyDB(config_override=user.client_config)
        exp = db.add_experiment(schedy.ManualSearch("idle"))
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, user.url, user.email, user.api_token, "idle"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)  # the worker is long-polling for a job
        assert worker.poll() is None
        stopping = time.monotonic()
        service.stop()  # SIGTERM
        stopped_in = time.monotonic() - stopping
        assert worker.poll() is None, worker.communicate()
        service = ServiceProcess.start(home, database_url, port=service.port)
        job = exp.add_job(hyperparameters={"a": 1})
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert out.split() == ["ran", job.job_id]
        assert poll(lambda: exp.get_job(job.job_id).status == "DONE" or None, 10, "the job DONE")
        # The poll ended at once instead of holding the shutdown until uvicorn's deadline cancelled it.
        assert "Cancel" not in service.log(), service.log()
        assert stopped_in < 4.5, stopped_in
    finally:
        service.stop()
