"""A job set RUNNING by a PUT, or POSTed RUNNING, gets the lease a claim would give it (SQLite and PostgreSQL).

The 0.1.0b6 client starts a job it got from ``add_job`` or ``get_job`` with ``with job:``: a PUT of
status RUNNING with ``If-Match``; ``add_job(status="RUNNING")`` POSTs it RUNNING. Neither sends
heartbeats, so such a job holds the lease a claim without heartbeats gets: the experiment's
``maxRunTime``, else none. Its worker dying then ends it CRASHED (and retries it) as it would a
claimed job, instead of leaving it RUNNING forever.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from schedy.server.store.jobs import LEASE_BEATS

#: The experiments' maxRunTime in these tests, seconds.
CAP = 0.5


def _job(api: Any, name: str, job_id: str) -> dict[str, Any]:
    return api.http.get(f"experiments/{name}/jobs/{job_id}/").json()


def _wait_for_status(api: Any, name: str, job_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = _job(api, name, job_id)
        if job["status"] == status or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _lease(job: dict[str, Any]) -> float:
    """How long the job's lease runs from its start, seconds."""
    assert job["leaseExpiresAt"] is not None, job
    return _seconds(job["leaseExpiresAt"]) - _seconds(job["startedAt"])


def _start(api: Any, name: str, job: httpx.Response, if_match: str | None = "read") -> httpx.Response:
    """The 0.1.0b6 client's ``with job:`` on a job it read: a PUT of status RUNNING, If-Match its ETag.

    ``if_match``: ``"read"`` (the job's ETag), another If-Match, or ``None`` (no precondition).
    """
    body = job.json()
    headers = {} if if_match is None else {"If-Match": job.headers["etag"] if if_match == "read" else if_match}
    started = api.request(
        "PUT",
        f"experiments/{name}/jobs/{body['id']}/",
        {"status": "RUNNING", "hyperparameters": body["hyperparameters"], "results": body["results"]},
        headers=headers,
    )
    assert started.status_code == 200, started.text
    return started


def test_a_job_started_by_put_gets_the_max_run_time_lease_and_ends_crashed(api):
    api.create_experiment("put-capped", maxRunTime=CAP)
    added = api.add_job("put-capped", hyperparameters={"x": 1})
    started = _start(api, "put-capped", added).json()
    assert started["status"] == "RUNNING"
    assert abs(_lease(started) - CAP) < 0.05
    # As for a claim without heartbeats, the cap is hard: a heartbeat does not extend it.
    beat = api.http.post(f"experiments/put-capped/jobs/{started['id']}/heartbeat/")
    assert beat.status_code == 200, beat.text
    assert beat.json()["leaseExpiresAt"] == started["leaseExpiresAt"]
    ended = _wait_for_status(api, "put-capped", started["id"], "CRASHED")
    assert (ended["status"], ended["endReason"], ended["leaseExpiresAt"]) == ("CRASHED", "lease-expired", None)


def test_the_lease_is_the_one_a_claim_without_heartbeats_gets(api):
    api.create_experiment("same-lease", maxRunTime=CAP)
    api.add_job("same-lease", hyperparameters={"x": 1})
    added = api.add_job("same-lease", hyperparameters={"x": 2})
    claimed = api.http.get("experiments/same-lease/nextjob/").json()
    started = _start(api, "same-lease", added).json()
    assert abs(_lease(started) - _lease(claimed)) < 0.05


def test_a_job_posted_running_gets_the_lease_and_its_retry(api):
    api.create_experiment("post-capped", maxRunTime=CAP, maxRetries=1)
    posted = api.add_job("post-capped", hyperparameters={"x": 1}, status="RUNNING")
    assert posted.status_code == 201, posted.text
    assert abs(_lease(posted.json()) - CAP) < 0.05
    ended = _wait_for_status(api, "post-capped", posted.json()["id"], "CRASHED")
    assert ended["endReason"] == "lease-expired"
    retry = api.http.get("experiments/post-capped/nextjob/")
    assert retry.status_code == 200, retry.text
    assert (retry.json()["attempt"], retry.json()["hyperparameters"]) == (2, {"x": 1})


def test_every_put_that_starts_a_job_gives_it_the_lease(api):
    api.create_experiment("put-ways", maxRunTime=30)
    # Without precondition, with If-Match: *, and a job created RUNNING (If-None-Match: *, or none).
    unconditional = _start(api, "put-ways", api.add_job("put-ways"), if_match=None).json()
    any_version = _start(api, "put-ways", api.add_job("put-ways"), if_match="*").json()
    created = []
    for job_id, headers in (("made-running", {"If-None-Match": "*"}), ("made-running-too", {})):
        answer = api.request("PUT", f"experiments/put-ways/jobs/{job_id}/", {"status": "RUNNING"}, headers=headers)
        assert answer.status_code == 201, answer.text
        created.append(answer.json())
    for job in (unconditional, any_version, *created):
        assert job["status"] == "RUNNING"
        assert abs(_lease(job) - 30) < 0.5, job


def test_without_max_run_time_a_started_job_holds_no_lease_as_a_claimed_one(api):
    api.create_experiment("uncapped-put")
    started = _start(api, "uncapped-put", api.add_job("uncapped-put")).json()
    posted = api.add_job("uncapped-put", status="RUNNING").json()
    assert (started["status"], started["leaseExpiresAt"]) == ("RUNNING", None)
    assert (posted["status"], posted["leaseExpiresAt"]) == ("RUNNING", None)


def _still_running(api, job):
    """A worker's update of a RUNNING job (its results so far), as of the answer ``job`` that holds its ETag."""
    return api.request(
        "PUT",
        f"experiments/kept/jobs/{job.json()['id']}/",
        {"status": "RUNNING", "results": {"epoch": 1}},
        headers={"If-Match": job.headers["etag"]},
    )


def test_an_update_of_a_running_job_keeps_its_lease(api):
    api.create_experiment("kept", maxRunTime=30)
    # A job started by PUT: a second PUT RUNNING (its results so far) does not push its cap back.
    first = _start(api, "kept", api.add_job("kept"))
    time.sleep(0.05)
    again = _still_running(api, first)
    assert again.status_code == 200, again.text
    assert again.json()["leaseExpiresAt"] == first.json()["leaseExpiresAt"]
    # A job claimed with heartbeats: its heartbeat lease stays one, renewed by beats, not the cap.
    api.add_job("kept")
    claimed = api.request("POST", "experiments/kept/nextjob/", {"heartbeat": 1})
    assert abs(_lease(claimed.json()) - LEASE_BEATS) < 0.05
    pushed = _still_running(api, claimed)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["leaseExpiresAt"] == claimed.json()["leaseExpiresAt"]
    time.sleep(0.05)
    beat = api.http.post(f"experiments/kept/jobs/{claimed.json()['id']}/heartbeat/").json()
    assert _seconds(beat["leaseExpiresAt"]) > _seconds(claimed.json()["leaseExpiresAt"])


def test_a_put_that_ends_or_requeues_a_started_job_clears_its_lease(api):
    api.create_experiment("cleared", maxRunTime=30)
    for status in ("DONE", "QUEUED"):
        started = _start(api, "cleared", api.add_job("cleared"))
        assert started.json()["leaseExpiresAt"] is not None
        ended = api.request(
            "PUT",
            f"experiments/cleared/jobs/{started.json()['id']}/",
            {"status": status},
            headers={"If-Match": started.headers["etag"]},
        )
        assert ended.status_code == 200, ended.text
        assert (ended.json()["status"], ended.json()["leaseExpiresAt"]) == (status, None)
        # Started again after that: a fresh lease.
        if status == "QUEUED":
            restarted = _start(api, "cleared", ended).json()
            assert abs(_lease(restarted) - 30) < 0.5
