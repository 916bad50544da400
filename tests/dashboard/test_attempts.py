"""Why a job crashed, and each of its attempts: the client sends the error, the service keeps it.

On SQLite and PostgreSQL, through the real client and HTTP: a job whose code
raised ends CRASHED with end reason ``raised`` and its exception's type,
message and traceback tail; an unencodable result ends it CRASHED at once with
that message; re-queueing keeps the crashed attempt's outcome and starts the
next attempt (``attempt + 1``, without the crashed attempt's partial results);
a retry after a lapsed lease carries the attempts before it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

import schedy
from schedy.stopping import ASHA
from tests.dashboard import fill
from tests.dashboard.test_api import API, cookie_login


def train(job: schedy.Job) -> None:
    job.results["partial"] = 0.5
    raise ValueError("the loss exploded at epoch 3")


@pytest.fixture
def db(service: Any) -> Any:
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


@pytest.fixture
def api(service: Any) -> Any:
    http = fill.client(service.user)
    yield http
    http.close()


def detail(http: httpx.Client, experiment: str, job_id: str) -> dict[str, Any]:
    answer = http.get(API + f"experiments/{experiment}/jobs/{job_id}/")
    assert answer.status_code == 200, answer.text
    # Each key once (the job's "error" is the whole one, traceback included): a JSON object with a key twice
    # is read differently by different parsers.
    twice: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        twice.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(items)

    json.loads(answer.text, object_pairs_hook=pairs)
    assert not twice, twice
    found: dict[str, Any] = answer.json()
    return found


def test_a_crash_keeps_its_error_and_requeueing_starts_a_new_attempt(service, db, api):
    exp = schedy.ManualSearch("crashy")
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"lr": 0.1})
    with pytest.raises(ValueError, match="exploded"), exp.next_job() as job:
        train(job)
    stored = api.get(fill.exp_path("crashy") + f"jobs/{job.job_id}/").json()
    assert (stored["status"], stored["endReason"], stored["attempt"]) == ("CRASHED", "raised", 1)
    assert job.etag == api.get(fill.exp_path("crashy") + f"jobs/{job.job_id}/").headers["ETag"]

    http, csrf = cookie_login(service)
    seen = detail(http, "crashy", job.job_id)
    assert seen["error"]["type"] == "ValueError"
    assert seen["error"]["message"] == "the loss exploded at epoch 3"
    assert "in train" in seen["error"]["traceback"]
    assert seen["error"]["traceback"].rstrip().endswith("ValueError: the loss exploded at epoch 3")
    assert seen["attempts"] == []

    answer = http.post(API + f"experiments/crashy/jobs/{job.job_id}/requeue/", headers={"X-Schedy-CSRF": csrf})
    assert answer.status_code == 200, answer.text
    again = detail(http, "crashy", job.job_id)
    assert (again["status"], again["attempt"], again["results"], again["error"]) == ("QUEUED", 2, {}, None)
    [first] = again["attempts"]
    assert (first["attempt"], first["status"], first["endReason"]) == (1, "CRASHED", "raised")
    assert first["results"] == {"partial": 0.5}
    assert first["error"]["type"] == "ValueError"
    assert first["startedAt"] is not None

    with exp.next_job() as second:
        assert second.job_id == job.job_id
        assert second.results == {}
        second.results["loss"] = 0.1
    done = detail(http, "crashy", job.job_id)
    assert (done["status"], done["attempt"], done["endReason"], done["error"]) == ("DONE", 2, "reported", None)
    assert [a["status"] for a in done["attempts"]] == ["CRASHED"]
    http.close()


def test_an_unencodable_result_ends_the_job_crashed_at_once_with_its_message(service, db):
    exp = schedy.ManualSearch("tensor")
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"lr": 0.1})
    job = exp.next_job()
    with pytest.raises(TypeError, match="cannot be sent"), job:
        job.results.update(loss=0.2, weights=object())
    http, _ = cookie_login(service)
    seen = detail(http, "tensor", job.job_id)
    assert (seen["status"], seen["endReason"], seen["results"]) == ("CRASHED", "raised", {"loss": 0.2})
    assert seen["error"]["type"] == "TypeError"
    assert "cannot be sent" in seen["error"]["message"]
    assert f"Job {job.job_id} was marked CRASHED" in seen["error"]["message"]
    http.close()


def test_the_error_endpoint_refuses_what_it_cannot_keep(service, api):
    jobs = fill.random_search(api, "errors", 8)
    crashed = next(j for j in jobs if j["status"] == "CRASHED")
    done = next(j for j in jobs if j["status"] == "DONE")
    path = fill.exp_path("errors") + "jobs/{}/error/"
    error = {"type": "RuntimeError", "message": "CUDA out of memory", "traceback": "Traceback…"}
    assert api.put(path.format(done["id"]), json=error).status_code == 409
    assert api.put(path.format("nope"), json=error).status_code == 404
    bad_bodies = [
        {"type": "X"},
        {"type": 1, "message": "m"},
        {**error, "extra": 1},
        {"type": " ", "message": "m"},
        {**error, "message": "m" * 10_001},
        [error],
    ]
    for bad in bad_bodies:
        answer = api.put(path.format(crashed["id"]), content=json.dumps(bad), headers={"Content-Type": "text/json"})
        assert answer.status_code == 422, bad
        assert "." in answer.json()["detail"]
    answer = api.put(path.format(crashed["id"]), json=error)
    assert answer.status_code == 204
    read = api.get(fill.exp_path("errors") + f"jobs/{crashed['id']}/")
    assert read.headers["ETag"] == answer.headers["ETag"]
    assert read.json()["endReason"] == "raised"
    other = fill.client(service.new_user())
    assert other.put(path.format(crashed["id"]), json=error).status_code == 404
    other.close()


def test_a_retry_after_a_lapsed_lease_carries_the_attempts_before_it(service, api):
    fill.put(api, fill.exp_path("lapsing"), {"scheduler": {"Manual": None}, "maxRetries": 2})
    api.post(fill.exp_path("lapsing") + "jobs/", json={"hyperparameters": {"lr": 0.1}})
    first = api.post(fill.exp_path("lapsing") + "nextjob/", json={"heartbeat": 0.2, "worker": "w1"}).json()

    def retry_of(job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            claimed = api.post(fill.exp_path("lapsing") + "nextjob/", json={"heartbeat": 0.2, "worker": "w2"})
            if claimed.status_code == 200:
                assert claimed.json()["id"] != job_id
                found: dict[str, Any] = claimed.json()
                return found
            time.sleep(0.3)
        raise AssertionError("no retry")

    second = retry_of(first["id"])
    third = retry_of(second["id"])
    http, _ = cookie_login(service)
    seen = detail(http, "lapsing", third["id"])
    assert seen["attempt"] == 3
    assert [(a["attempt"], a["job"], a["status"], a["endReason"], a["worker"]) for a in seen["attempts"]] == [
        (1, first["id"], "CRASHED", "lease-expired", "w1"),
        (2, second["id"], "CRASHED", "lease-expired", "w2"),
    ]
    http.close()


def test_requeueing_a_pruned_job_clears_its_stop_decision_and_keeps_the_stopped_attempt(service, db):
    exp = schedy.ManualSearch("stopped", early_stopping=ASHA("loss", "min", min_step=1, max_step=9))
    db.add_experiment(exp)
    for loss in (0.3, 0.2, 0.1, 9.0):  # each better than the last, then the worst: the last one is stopped
        exp.add_job(hyperparameters={"loss": loss})
        with exp.next_job() as job:
            if job.report(1, loss=loss):
                raise schedy.errors.JobPruned()
            job.results["loss"] = loss
    assert exp.get_job(job.job_id).status == "PRUNED"
    http, csrf = cookie_login(service)
    answer = http.post(API + f"experiments/stopped/jobs/{job.job_id}/requeue/", headers={"X-Schedy-CSRF": csrf})
    assert answer.status_code == 200, answer.text
    again = detail(http, "stopped", job.job_id)
    assert (again["status"], again["attempt"], again["stopReason"]) == ("QUEUED", 2, None)
    assert [(a["attempt"], a["status"]) for a in again["attempts"]] == [(1, "PRUNED")]
    with exp.next_job() as rerun:
        assert rerun.job_id == job.job_id
        assert rerun.report(1, loss=0.01) is False  # its new run, judged afresh
        rerun.results["loss"] = 0.01
    http.close()


def test_a_grid_cell_retried_after_it_raised_carries_its_attempts_and_checkpoints(service, db, tmp_path):
    """maxRetries on a grid: the cell's next attempt lists the one that raised and resumes from its artifacts."""
    db.add_experiment(schedy.GridSearch("grid-resume", {"a": [1]}, max_retries=2))
    exp = db.get_experiment("grid-resume")
    seen = []
    for job in exp.jobs():
        seen.append(job)
        checkpoint = tmp_path / f"attempt-{job.attempt}.txt"
        try:
            with job:
                found = [a.name for a in job.artifacts()]
                job.results["found"] = len(found)
                checkpoint.write_text(f"epoch {job.attempt}")
                job.save_artifact(checkpoint, name=f"epoch-{job.attempt}.txt")
                if job.attempt < 3:
                    raise MemoryError(f"out of memory at attempt {job.attempt}")
        except MemoryError:
            pass
    assert [(j.hyperparameters, j.attempt) for j in seen] == [({"a": 1}, 1), ({"a": 1}, 2), ({"a": 1}, 3)]
    last = exp.get_job(seen[-1].job_id)
    assert last.status == "DONE"
    # Each attempt started with the checkpoints of the attempts before it.
    assert last.results["found"] == 2
    assert sorted(a.name for a in last.artifacts()) == ["epoch-1.txt", "epoch-2.txt", "epoch-3.txt"]
    http, _ = cookie_login(service)
    shown = detail(http, "grid-resume", last.job_id)
    attempts = [(a["attempt"], a["job"], a["status"], a["endReason"], a["error"]["message"]) for a in shown["attempts"]]
    assert attempts == [
        (1, seen[0].job_id, "CRASHED", "raised", "out of memory at attempt 1"),
        (2, seen[1].job_id, "CRASHED", "raised", "out of memory at attempt 2"),
    ]
    http.close()


def test_a_pbt_interval_retried_after_it_raised_lists_its_attempt_but_starts_from_its_parent(service, db, tmp_path):
    """PBT's rule 10: the retry lists the failed attempt; its checkpoints are the parent's, not the failed job's."""
    from schedy import pbt
    from schedy.random import Uniform

    db.add_experiment(
        schedy.PopulationBasedTraining(
            "pbt-retry", "min", "loss", pbt.Truncate(0.5), {"x": pbt.Perturb()},
            initial_distributions={"x": Uniform(0, 1)}, population_size=1, max_generations=1,
        )
    )  # fmt: skip
    exp = db.get_experiment("pbt-retry")
    seen = []
    for job in exp.jobs():
        seen.append(job)
        try:
            with job:
                found = sorted(a.name for a in job.artifacts())
                job.results["found"] = len(found)
                (tmp_path / "half.pt").write_text("half an interval")
                job.save_artifact(tmp_path / "half.pt")
                if job.attempt == 1:
                    raise FloatingPointError("the loss is NaN")
                job.results["loss"] = 0.5
        except FloatingPointError:
            pass
    assert [(j.member, j.attempt) for j in seen] == [("m0", 1), ("m0", 2)]
    retry = exp.get_job(seen[1].job_id)
    assert (retry.status, retry.results["found"]) == ("DONE", 0)  # the failed attempt's half.pt was not carried
    http, _ = cookie_login(service)
    shown = detail(http, "pbt-retry", retry.job_id)
    assert [(a["attempt"], a["job"], a["status"], a["error"]["type"]) for a in shown["attempts"]] == [
        (1, seen[0].job_id, "CRASHED", "FloatingPointError")
    ]
    http.close()
