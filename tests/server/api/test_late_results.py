"""A result sent after the job's lease lapsed is kept, unless its retry was claimed (SQLite and PostgreSQL).

A worker may be alive while the service gives its job up: a laptop that slept, a network cut longer
than a lease, a heartbeat thread starved by a busy process. When it finishes the job, its result is
kept and the retry the sweep queued is withdrawn, if nobody claimed it yet; once the retry is claimed,
the late result is refused, so no job is finished by two workers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from schedy.testing import ServiceProcess

HEARTBEAT = 0.2


def _lapsed(api: Any, name: str, *, hyperparameters: dict[str, Any] | None = None, **options: Any) -> httpx.Response:
    """Create experiment ``name``, claim its one job with a short lease, and wait until the sweep ends it."""
    api.create_experiment(name, **options)
    assert api.add_job(name, hyperparameters=hyperparameters or {"x": 1}).status_code == 201
    claimed = api.request("POST", f"experiments/{name}/nextjob/", {"heartbeat": HEARTBEAT})
    assert claimed.status_code == 200, claimed.text
    deadline = time.monotonic() + 15
    while api.http.get(f"experiments/{name}/jobs/{claimed.json()['id']}/").json()["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the sweep never ended the silent job"
        time.sleep(0.05)
    return claimed


def _finish(api: Any, name: str, claimed: httpx.Response, status: str = "DONE", **results: Any) -> httpx.Response:
    job = claimed.json()
    body = {"status": status, "hyperparameters": job["hyperparameters"], "results": results}
    return api.request(
        "PUT", f"experiments/{name}/jobs/{job['id']}/", body, headers={"If-Match": claimed.headers["etag"]}
    )


def _events(api: Any, name: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.items() if k not in ("id", "createdAt")}
        for e in api.http.get(f"experiments/{name}/events/").json()["items"]
    ]


def test_a_result_sent_after_the_lease_lapsed_is_kept(api):
    claimed = _lapsed(api, "slept")
    job_id = claimed.json()["id"]
    crashed = api.http.get(f"experiments/slept/jobs/{job_id}/").json()
    assert (crashed["status"], crashed["endReason"]) == ("CRASHED", "lease-expired")
    late = _finish(api, "slept", claimed, loss=0.125)
    assert late.status_code == 200, late.text
    kept = api.http.get(f"experiments/slept/jobs/{job_id}/").json()
    assert (kept["status"], kept["endReason"], kept["results"]) == ("DONE", "reported", {"loss": 0.125})
    assert kept["finishedAt"] > crashed["finishedAt"]  # it ended when its worker said so
    assert late.headers["etag"] == kept["etag"]  # the worker holds the job's current version
    assert _events(api, "slept")[-1] == {
        "kind": "late-result",
        "job": job_id,
        "attempt": 1,
        "endedAs": "DONE",
        "retryWithdrawn": None,
    }
    # The same update sent again (its answer lost) is refused: the job changed since that ETag.
    assert _finish(api, "slept", claimed, loss=0.125).status_code == 412


def test_a_late_result_withdraws_the_retry_nobody_claimed(api):
    claimed = _lapsed(api, "retried", maxRetries=2)
    job_id = claimed.json()["id"]
    jobs = api.all_jobs("retried")
    assert [(j["status"], j["attempt"]) for j in jobs] == [("CRASHED", 1), ("QUEUED", 2)]
    retry_id = jobs[1]["id"]
    assert _finish(api, "retried", claimed, loss=0.5).status_code == 200
    assert [(j["id"], j["status"], j["results"]) for j in api.all_jobs("retried")] == [(job_id, "DONE", {"loss": 0.5})]
    assert api.http.post("experiments/retried/nextjob/").status_code == 204  # nothing left to run twice
    assert api.http.get(f"experiments/retried/jobs/{retry_id}/").status_code == 404
    assert [(e["kind"], e.get("retry"), e.get("retryWithdrawn")) for e in _events(api, "retried")] == [
        ("lease-expired", retry_id, None),
        ("late-result", None, retry_id),
    ]


def test_a_late_result_is_refused_once_the_retry_is_claimed(api):
    claimed = _lapsed(api, "taken", maxRetries=1)
    job_id = claimed.json()["id"]
    retry = api.request("POST", "experiments/taken/nextjob/", {"heartbeat": 30}).json()
    assert retry["attempt"] == 2
    late = _finish(api, "taken", claimed, loss=0.5)
    assert late.status_code == 412
    assert late.json()["detail"] == (
        f"Job '{job_id}' was ended after its lease lapsed, and job '{retry['id']}', its retry, was claimed by "
        "another worker since, so this result is not kept: the retry's will be."
    )
    statuses = {j["id"]: (j["status"], j["results"]) for j in api.all_jobs("taken")}
    assert statuses == {job_id: ("CRASHED", {}), retry["id"]: ("RUNNING", {})}
    assert [e["kind"] for e in _events(api, "taken")] == ["lease-expired"]


def test_only_a_finished_run_is_kept_late(api):
    """A late PRUNED or CRASHED is a worker that stopped; a late update over someone else's change is refused."""
    for status in ("PRUNED", "CRASHED", "RUNNING"):
        name = f"late-{status.lower()}"
        claimed = _lapsed(api, name, maxRetries=1)
        assert _finish(api, name, claimed, status, loss=0.5).status_code == 412
        assert [j["status"] for j in api.all_jobs(name)] == ["CRASHED", "QUEUED"]
    # Someone changed the ended job (a note of results, say): the worker's ETag is two versions old.
    claimed = _lapsed(api, "edited")
    job_id = claimed.json()["id"]
    current = api.http.get(f"experiments/edited/jobs/{job_id}/")
    edited = api.request(
        "PUT",
        f"experiments/edited/jobs/{job_id}/",
        {"status": "CRASHED", "hyperparameters": {"x": 1}, "results": {"note": "oom"}},
        headers={"If-Match": current.headers["etag"]},
    )
    assert edited.status_code == 200
    assert _finish(api, "edited", claimed, loss=0.5).status_code == 412
    assert api.http.get(f"experiments/edited/jobs/{job_id}/").json()["results"] == {"note": "oom"}


def test_late_results_and_claims_of_their_retries_racing_on_two_service_processes(api, service, tmp_path):
    """Each lapsed job ends with exactly one run kept: its late result (retry withdrawn) or its claimed retry."""
    count = 24
    api.create_experiment("race", maxRetries=1)
    for x in range(count):
        assert api.add_job("race", hyperparameters={"x": x}).status_code == 201
    claims = [api.request("POST", "experiments/race/nextjob/", {"heartbeat": HEARTBEAT}) for _ in range(count)]
    deadline = time.monotonic() + 20
    while sum(j["status"] == "QUEUED" for j in api.all_jobs("race")) < count:  # every lease lapsed and was retried
        assert time.monotonic() < deadline, "the sweep never retried every silent job"
        time.sleep(0.1)
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    answers: dict[str, int] = {}
    retries: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def late_results() -> None:
        try:
            for claimed in claims:
                answers[claimed.json()["id"]] = _finish(api, "race", claimed, loss=1.0).status_code
        except BaseException as exc:  # reported below
            errors.append(exc)

    def claim_retries() -> None:
        try:
            with httpx.Client(base_url=second.url, headers=dict(api.http.headers), timeout=60) as other:
                while True:
                    answer = other.post("experiments/race/nextjob/", json={"heartbeat": 30})
                    if answer.status_code == 204:
                        return
                    assert answer.status_code == 200, answer.text
                    retries.append(answer.json())
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=late_results), threading.Thread(target=claim_retries)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        second.stop()
    assert not errors, errors
    assert set(answers.values()) <= {200, 412}
    jobs = {j["id"]: j for j in api.all_jobs("race")}
    retried_x = {r["hyperparameters"]["x"] for r in retries}
    for claimed in claims:
        original = claimed.json()
        x = original["hyperparameters"]["x"]
        if answers[original["id"]] == 200:  # kept: its retry was withdrawn before anyone claimed it
            assert jobs[original["id"]]["status"] == "DONE"
            assert x not in retried_x
        else:  # refused: its retry was claimed, and is the one run that goes on
            assert jobs[original["id"]]["status"] == "CRASHED"
            assert x in retried_x
    # Every x has exactly one job still running or done: never two, never none.
    alive = [j["hyperparameters"]["x"] for j in jobs.values() if j["status"] in ("DONE", "RUNNING")]
    assert sorted(alive) == list(range(count))
    assert not [j for j in jobs.values() if j["status"] == "QUEUED"]


def test_a_withdrawn_retry_leaves_the_jobs_checkpoint_in_place(api):
    """The retry shared the lapsed attempt's artifacts (the same bytes): withdrawing it deletes none of them."""
    api.create_experiment("checkpointed", maxRetries=1)
    assert api.add_job("checkpointed", hyperparameters={"x": 1}).status_code == 201
    claimed = api.request("POST", "experiments/checkpointed/nextjob/", {"heartbeat": HEARTBEAT})
    job_id = claimed.json()["id"]
    artifact = f"experiments/checkpointed/jobs/{job_id}/artifacts/model.pt/"
    assert api.request("PUT", artifact, b"weights " * 1000).status_code == 201
    deadline = time.monotonic() + 15
    while len(api.all_jobs("checkpointed")) < 2:  # lapsed, and retried with the checkpoint
        assert time.monotonic() < deadline, "the sweep never retried the silent job"
        time.sleep(0.05)
    retry_id = api.all_jobs("checkpointed")[1]["id"]
    assert api.http.get(f"experiments/checkpointed/jobs/{retry_id}/artifacts/model.pt/").content == b"weights " * 1000
    assert _finish(api, "checkpointed", claimed, loss=0.5).status_code == 200
    time.sleep(2.5)  # the background collection of detached blobs runs every second
    kept = api.http.get(artifact)
    assert kept.status_code == 200
    assert kept.content == b"weights " * 1000
