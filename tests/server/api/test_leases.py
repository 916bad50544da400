"""Leases: a job whose worker goes silent leaves RUNNING, and is retried if allowed."""

from __future__ import annotations

import logging
import time

import schedy
from schedy.random import Uniform
from schedy.server.store.jobs import LEASE_BEATS


def _wait_for_status(api, exp: str, job_id: str, status: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.http.get(f"experiments/{exp}/jobs/{job_id}/").json()
        if job["status"] == status or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_silent_worker_loses_its_job_which_ends_crashed(api):
    api.create_experiment("silent")
    api.add_job("silent", hyperparameters={"x": 1})
    claimed = api.request("POST", "experiments/silent/nextjob/", {"heartbeat": 0.2})
    job = _wait_for_status(api, "silent", claimed.json()["id"], "CRASHED")
    assert job["status"] == "CRASHED"
    assert job["endReason"] == "lease-expired"
    assert job["finishedAt"] is not None
    # The silent worker cannot take the job up again (a late result is another matter: test_late_results.py).
    revived = api.request(
        "PUT",
        f"experiments/silent/jobs/{job['id']}/",
        {"status": "RUNNING"},
        headers={"If-Match": claimed.headers["etag"]},
    )
    assert revived.status_code == 412
    events = api.http.get("experiments/silent/events/").json()["items"]
    assert [(e["kind"], e["job"], e["retry"]) for e in events] == [("lease-expired", job["id"], None)]


def test_heartbeats_keep_the_job(api):
    api.create_experiment("beating")
    api.add_job("beating")
    # A lease of 1.5 s renewed every 0.1 s: a beat may come 1.4 s late on a loaded machine. The
    # test lasts over a lease and two sweeps (1 s apart), so without the beats the job would end.
    interval = 0.5
    job = api.request("POST", "experiments/beating/nextjob/", {"heartbeat": interval}).json()
    deadline = time.monotonic() + interval * LEASE_BEATS + 2.5
    while time.monotonic() < deadline:
        assert api.http.post(f"experiments/beating/jobs/{job['id']}/heartbeat/").status_code == 200
        time.sleep(0.1)
    assert api.http.get(f"experiments/beating/jobs/{job['id']}/").json()["status"] == "RUNNING"


def test_reports_alone_keep_the_job(api):
    # A worker that reports often and sends no heartbeat: its reports renew the lease, at most once
    # per half interval here (a lease of 1.5 s), so the job outlives several leases and sweeps.
    api.create_experiment("reporting")
    api.add_job("reporting")
    interval = 0.5
    job = api.request("POST", "experiments/reporting/nextjob/", {"heartbeat": interval}).json()
    leases = []
    deadline = time.monotonic() + interval * LEASE_BEATS + 2.5
    step = 0
    while time.monotonic() < deadline:
        answer = api.http.post(
            f"experiments/reporting/jobs/{job['id']}/reports/", json={"step": step, "metrics": {"loss": 1.0}}
        )
        assert answer.status_code == 200, answer.text
        leases.append(answer.json()["leaseExpiresAt"])
        step += 1
        time.sleep(0.05)
    assert api.http.get(f"experiments/reporting/jobs/{job['id']}/").json()["status"] == "RUNNING"
    assert leases == sorted(leases)
    assert len(set(leases)) >= 4  # renewed again and again, not once


def test_max_retries_requeues_a_new_attempt_until_retries_run_out(api):
    api.create_experiment("retried", maxRetries=1)
    api.add_job("retried", hyperparameters={"lr": 0.1}, results={"checkpoint": "/ckpt/1"})
    first = api.request("POST", "experiments/retried/nextjob/", {"heartbeat": 0.2}).json()
    assert _wait_for_status(api, "retried", first["id"], "CRASHED")["status"] == "CRASHED"
    retry = api.request("POST", "experiments/retried/nextjob/", {"heartbeat": 0.2}).json()
    assert retry["id"] != first["id"]
    assert retry["attempt"] == 2
    assert (retry["hyperparameters"], retry["results"]) == ({"lr": 0.1}, {"checkpoint": "/ckpt/1"})
    assert _wait_for_status(api, "retried", retry["id"], "CRASHED")["status"] == "CRASHED"
    time.sleep(1.5)  # a sweep or more: no third attempt
    assert api.http.post("experiments/retried/nextjob/").status_code == 204
    assert sorted(j["attempt"] for j in api.all_jobs("retried")) == [1, 2]


def test_old_clients_jobs_keep_no_lease_unless_the_experiment_caps_run_time(api):
    api.create_experiment("uncapped")
    api.create_experiment("capped", maxRunTime=0.5)
    for name in ("uncapped", "capped"):
        api.add_job(name)
    uncapped = api.http.get("experiments/uncapped/nextjob/").json()
    capped = api.http.get("experiments/capped/nextjob/").json()
    assert uncapped["leaseExpiresAt"] is None
    assert capped["leaseExpiresAt"] is not None
    assert _wait_for_status(api, "capped", capped["id"], "CRASHED")["endReason"] == "lease-expired"
    assert api.http.get(f"experiments/uncapped/jobs/{uncapped['id']}/").json()["status"] == "RUNNING"


def test_a_late_heartbeat_is_told_what_became_of_the_job(api):
    api.create_experiment("late")
    api.add_job("late", hyperparameters={"x": 1})
    api.add_job("late", hyperparameters={"x": 2})
    silent = api.request("POST", "experiments/late/nextjob/", {"heartbeat": 0.2}).json()
    assert _wait_for_status(api, "late", silent["id"], "CRASHED")["status"] == "CRASHED"
    lapsed = api.http.post(f"experiments/late/jobs/{silent['id']}/heartbeat/")
    assert lapsed.status_code == 412
    assert lapsed.json()["detail"] == (
        f"Job '{silent['id']}' has ended CRASHED, so it is no longer RUNNING; stop working on it."
    )
    finished = api.request("POST", "experiments/late/nextjob/", {"heartbeat": 30}).json()
    api.request("PUT", f"experiments/late/jobs/{finished['id']}/", {"status": "DONE"})
    done = api.http.post(f"experiments/late/jobs/{finished['id']}/heartbeat/")
    assert done.status_code == 412
    assert "has ended DONE, so it is no longer RUNNING" in done.json()["detail"]
    queued = api.add_job("late", hyperparameters={"x": 3}).json()
    early = api.http.post(f"experiments/late/jobs/{queued['id']}/heartbeat/")
    assert early.status_code == 412
    assert "is QUEUED, not RUNNING" in early.json()["detail"]
    missing = api.http.post("experiments/late/jobs/nope/heartbeat/")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Job 'nope' does not exist in experiment 'late'."


def test_a_worker_whose_job_was_ended_elsewhere_is_warned_with_the_jobs_status(service, caplog):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = schedy.RandomSearch("ended-elsewhere", {"x": Uniform(0, 1)})
        db.add_experiment(exp)
        job = exp.next_job(heartbeat=0.1)

        def someone_else_ends_it() -> None:
            """A second worker or a script ends the job while this worker still trains it."""
            other = exp.get_job(job.job_id)
            other.status = schedy.Job.PRUNED
            other.put()
            deadline = time.monotonic() + 10
            while "lost its lease" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)

        with caplog.at_level(logging.WARNING, logger="schedy"), job:
            someone_else_ends_it()
        assert "has ended PRUNED" in (job.lost or "")
        warnings = [r.getMessage() for r in caplog.records if "lost its lease" in r.getMessage()]
        assert len(warnings) == 1, caplog.text
        assert f"Job '{job.job_id}' has ended PRUNED, so it is no longer RUNNING" in warnings[0]
        assert exp.get_job(job.job_id).status == schedy.Job.PRUNED  # the worker's own end was refused
