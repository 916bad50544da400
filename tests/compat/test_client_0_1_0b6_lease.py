"""The 0.1.0b6 client's own ways of starting a job hold the experiment's ``maxRunTime`` lease.

That client runs a job it got from ``add_job`` or ``get_job`` with ``with job:`` (a PUT of status
RUNNING with If-Match), or adds it RUNNING (``add_job(status="RUNNING")``), and sends no heartbeats.
If its worker dies, the job must end CRASHED after ``maxRunTime`` and be retried, as a job it
claimed with ``next_job`` is, not stay RUNNING forever.
"""

from __future__ import annotations

import time
from typing import Any

CAP = 1.0


def _create(raw: Any, name: str, **options: Any) -> None:
    body = {"status": "RUNNING", "scheduler": {"Manual": None}, **options}
    answer = raw.http.put(f"experiments/{name}/", json=body, headers={"If-None-Match": "*"})
    assert answer.status_code == 201, answer.text


def _wait_until_ended(raw: Any, name: str, job_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = raw.job(name, job_id).json()
        if job["status"] != "RUNNING" or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.05)


def test_a_job_started_with_the_old_clients_with_block_ends_after_max_run_time_and_is_retried(old, raw):
    _create(raw, "old-put", maxRunTime=CAP, maxRetries=1)
    out = old.run("""
        db = connect()
        exp = db.get_experiment("old-put")
        job = exp.add_job(hyperparameters={"x": 1})
        job.__enter__()  # `with job:`, and then the worker dies: no __exit__
        OUT["id"] = job.job_id
    """)
    started = raw.job("old-put", out["id"]).json()
    assert (started["status"], started["attempt"]) == ("RUNNING", 1)
    assert started["leaseExpiresAt"] is not None
    ended = _wait_until_ended(raw, "old-put", out["id"])
    assert (ended["status"], ended["endReason"]) == ("CRASHED", "lease-expired")
    # The retry is the old client's next job, which it finishes in time.
    retried = old.run("""
        exp = connect().get_experiment("old-put")
        with exp.next_job() as job:
            job.results = {"loss": 0.5}
        OUT["job"] = job_dict(exp.get_job(job.job_id))
    """)
    assert retried["job"]["hyperparameters"] == {"x": 1}
    assert (retried["job"]["status"], retried["job"]["results"]) == ("DONE", {"loss": 0.5})
    assert raw.job("old-put", retried["job"]["id"]).json()["attempt"] == 2


def test_a_job_the_old_client_adds_running_ends_after_max_run_time(old, raw):
    _create(raw, "old-post", maxRunTime=CAP)
    out = old.run("""
        job = connect().get_experiment("old-post").add_job(hyperparameters={"x": 1}, status="RUNNING")
        OUT["id"] = job.job_id
    """)
    assert raw.job("old-post", out["id"]).json()["leaseExpiresAt"] is not None
    ended = _wait_until_ended(raw, "old-post", out["id"])
    assert (ended["status"], ended["endReason"]) == ("CRASHED", "lease-expired")


def test_a_job_the_old_client_finishes_in_time_is_done_and_holds_no_lease(old, raw):
    _create(raw, "old-in-time", maxRunTime=30)
    out = old.run("""
        exp = connect().get_experiment("old-in-time")
        job = exp.add_job(hyperparameters={"x": 1})
        with job:
            job.results = {"loss": 0.25}
        OUT["job"] = job_dict(exp.get_job(job.job_id))
    """)
    assert (out["job"]["status"], out["job"]["results"]) == ("DONE", {"loss": 0.25})
    assert raw.job("old-in-time", out["job"]["id"]).json()["leaseExpiresAt"] is None
