"""Leases: a job whose worker goes silent leaves RUNNING, and is retried if allowed."""

from __future__ import annotations

import time

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
    # The silent worker's late write cannot overwrite the service's decision.
    late = api.request("PUT", f"experiments/silent/jobs/{job['id']}/", {"status": "DONE"},
                       headers={"If-Match": claimed.headers["etag"]})
    assert late.status_code == 412
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
