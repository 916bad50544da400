"""A claim hands out work decided from the experiment as it is now, after every kind of change.

On PostgreSQL a worker's claim of a random search is one statement: the service decides the new
job before sending it, from the experiment's definition as its last claim saw it, and the
statement inserts that job only if the definition is still the same (service/claims.py). These
tests change the experiment between claims, as users do, and check what the next claim hands out.
(Real service over HTTP; SQLite and PostgreSQL.)
"""

from __future__ import annotations

from typing import Any

from tests.server.conftest import exp_path

WORKER = {"worker": "w1", "heartbeat": 30}


def _space(low: float, high: float) -> dict[str, Any]:
    return {"RandomSearch": {"x": {"uniform": {"low": low, "high": high}}}}


def _claim(api: Any, name: str) -> Any:
    return api.request("POST", exp_path(name) + "nextjob/", WORKER)


def _warm(api: Any, name: str) -> None:
    """A few claims, completed: the service has seen the experiment's definition."""
    for _ in range(3):
        job = _claim(api, name)
        assert job.status_code == 200, job.text
        body = job.json()
        done = api.request(
            "PUT",
            exp_path(name) + f"jobs/{body['id']}/",
            {"status": "DONE", "hyperparameters": body["hyperparameters"], "results": {"loss": 1.0}},
            headers={"If-Match": job.headers["etag"]},
        )
        assert done.status_code == 200, done.text


def test_a_new_search_space_applies_to_the_very_next_claim(api: Any) -> None:
    api.create_experiment("rs", _space(0, 1))
    _warm(api, "rs")
    replaced = api.request("PUT", exp_path("rs"), {"status": "RUNNING", "scheduler": _space(100, 101)})
    assert replaced.status_code == 200, replaced.text
    for _ in range(5):
        job = _claim(api, "rs")
        assert job.status_code == 200
        assert 100 <= job.json()["hyperparameters"]["x"] <= 101


def test_a_search_turned_manual_hands_out_only_its_queue(api: Any) -> None:
    api.create_experiment("rs", _space(0, 1))
    _warm(api, "rs")
    assert api.request("PUT", exp_path("rs"), {"status": "RUNNING", "scheduler": {"Manual": None}}).status_code == 200
    assert _claim(api, "rs").status_code == 204
    queued = api.add_job("rs", hyperparameters={"x": 7})
    assert queued.status_code == 201
    job = _claim(api, "rs")
    assert job.status_code == 200
    assert job.json()["id"] == queued.json()["id"]
    assert _claim(api, "rs").status_code == 204


def test_queued_jobs_still_go_first_and_done_stops_everything(api: Any) -> None:
    api.create_experiment("rs", _space(0, 1))
    _warm(api, "rs")
    queued = [api.add_job("rs", hyperparameters={"x": 0.5}).json()["id"] for _ in range(3)]
    assert [_claim(api, "rs").json()["id"] for _ in range(3)] == queued
    assert "x" in _claim(api, "rs").json()["hyperparameters"]  # the queue is empty: new work
    assert api.request("PUT", exp_path("rs"), {"status": "DONE", "scheduler": _space(0, 1)}).status_code == 200
    assert _claim(api, "rs").status_code == 204
    jobs_before = len(api.all_jobs("rs"))
    assert _claim(api, "rs").status_code == 204
    assert len(api.all_jobs("rs")) == jobs_before


def test_a_budget_set_later_is_respected(api: Any) -> None:
    api.create_experiment("rs", _space(0, 1))
    _warm(api, "rs")  # 3 jobs the search created: they count in a budget set later
    capped = api.request("PUT", exp_path("rs"), {"status": "RUNNING", "scheduler": _space(0, 1), "maxJobs": 5})
    assert capped.status_code == 200, capped.text
    handed = 0
    while _claim(api, "rs").status_code == 200:
        handed += 1
        assert handed <= 2
    assert handed == 2


def test_a_deleted_and_recreated_experiment_uses_its_new_definition(api: Any) -> None:
    api.create_experiment("rs", _space(0, 1))
    _warm(api, "rs")
    assert api.request("DELETE", exp_path("rs")).status_code == 204
    assert _claim(api, "rs").status_code == 404
    api.create_experiment("rs", _space(-5, -4))
    job = _claim(api, "rs")
    assert job.status_code == 200
    assert -5 <= job.json()["hyperparameters"]["x"] <= -4
    assert len(api.all_jobs("rs")) == 1


def _budgeted(space: dict[str, Any], max_jobs: int) -> dict[str, Any]:
    return {"status": "RUNNING", "scheduler": space, "maxJobs": max_jobs}


def test_a_budget_lowered_while_claims_go_on_is_respected_and_a_raised_one_hands_out_more(api: Any) -> None:
    # The claims before the change were paid from a budget of 10 in the same statement as their insert.
    assert api.request("PUT", exp_path("rs"), _budgeted(_space(0, 1), 10)).status_code == 201
    _warm(api, "rs")
    assert api.request("PUT", exp_path("rs"), _budgeted(_space(0, 1), 4)).status_code == 200
    handed = 0
    while _claim(api, "rs").status_code == 200:
        handed += 1
        assert handed <= 1, "the lowered budget (4, 3 spent) was not respected"
    assert handed == 1
    counts = api.request("GET", exp_path("rs") + "?counts=true").json()
    assert (counts["jobsCreated"], sum(counts["jobCounts"].values())) == (4, 4)
    # Raised again: the search goes on to its new budget, one job per claim, the space as it is now.
    assert api.request("PUT", exp_path("rs"), _budgeted(_space(5, 6), 6)).status_code == 200
    new = [_claim(api, "rs") for _ in range(3)]
    assert [answer.status_code for answer in new] == [200, 200, 204]
    assert all(5 <= answer.json()["hyperparameters"]["x"] <= 6 for answer in new[:2])
    counts = api.request("GET", exp_path("rs") + "?counts=true").json()
    assert (counts["jobsCreated"], sum(counts["jobCounts"].values())) == (6, 6)
