"""Jobs: add, read, conditional updates with ETags, delete, pages, NaN."""

from __future__ import annotations

import math

import pytest

RANDOM = {"RandomSearch": {"lr": {"uniform": {"low": 0, "high": 1}}}}


@pytest.fixture
def exp(api):
    api.create_experiment("jobs")
    return "experiments/jobs/"


def test_added_job_is_queued_with_an_id_and_etag(api, exp):
    answer = api.add_job("jobs", hyperparameters={"lr": 0.1, "layers": [64, 64]})
    assert answer.status_code == 201
    job = answer.json()
    assert job["status"] == "QUEUED"
    assert job["experiment"] == "jobs"
    assert job["hyperparameters"] == {"lr": 0.1, "layers": [64, 64]}
    assert job["results"] == {}
    assert job["id"].isalnum()
    assert answer.headers["etag"].startswith('"')
    read = api.http.get(f"{exp}jobs/{job['id']}/")
    assert read.json()["hyperparameters"] == job["hyperparameters"]
    assert read.headers["etag"] == answer.headers["etag"]


def test_job_ids_are_unique(api, exp):
    ids = {api.add_job("jobs").json()["id"] for _ in range(50)}
    assert len(ids) == 50


def test_put_with_matching_etag_updates_and_changes_the_etag(api, exp):
    created = api.add_job("jobs", hyperparameters={"x": 1})
    job_id, tag = created.json()["id"], created.headers["etag"]
    answer = api.request(
        "PUT",
        f"{exp}jobs/{job_id}/",
        {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"acc": 0.9}},
        headers={"If-Match": tag},
    )
    assert answer.status_code == 200
    assert answer.headers["etag"] != tag
    body = api.http.get(f"{exp}jobs/{job_id}/").json()
    assert (body["status"], body["results"]) == ("DONE", {"acc": 0.9})
    assert body["finishedAt"] is not None


def test_put_with_stale_etag_is_refused_and_keeps_the_other_write(api, exp):
    created = api.add_job("jobs", hyperparameters={"x": 1})
    job_id, tag = created.json()["id"], created.headers["etag"]
    first = api.request(
        "PUT", f"{exp}jobs/{job_id}/", {"status": "DONE", "results": {"by": "first"}}, headers={"If-Match": tag}
    )
    assert first.status_code == 200
    second = api.request(
        "PUT", f"{exp}jobs/{job_id}/", {"status": "CRASHED", "results": {"by": "second"}}, headers={"If-Match": tag}
    )
    assert second.status_code == 412
    assert "changed" in second.json()["detail"]
    body = api.http.get(f"{exp}jobs/{job_id}/").json()
    assert (body["status"], body["results"]) == ("DONE", {"by": "first"})


def test_put_if_match_on_a_deleted_job_is_412_and_does_not_recreate_it(api, exp):
    created = api.add_job("jobs")
    job_id, tag = created.json()["id"], created.headers["etag"]
    api.http.delete(f"{exp}jobs/{job_id}/")
    answer = api.request("PUT", f"{exp}jobs/{job_id}/", {"status": "DONE"}, headers={"If-Match": tag})
    assert answer.status_code == 412
    assert api.http.get(f"{exp}jobs/{job_id}/").status_code == 404


def test_put_if_none_match_creates_with_the_given_id_once(api, exp):
    first = api.request(
        "PUT", f"{exp}jobs/my-id/", {"status": "QUEUED", "hyperparameters": {"a": 1}}, headers={"If-None-Match": "*"}
    )
    assert first.status_code == 201
    assert first.json()["id"] == "my-id"
    again = api.request("PUT", f"{exp}jobs/my-id/", {"status": "DONE"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert api.http.get(f"{exp}jobs/my-id/").json()["status"] == "QUEUED"


def test_put_without_precondition_creates_or_overwrites(api, exp):
    assert api.request("PUT", f"{exp}jobs/j1/", {"status": "QUEUED"}).status_code == 201
    assert api.request("PUT", f"{exp}jobs/j1/", {"status": "DONE", "results": {"r": 1}}).status_code == 200
    assert api.http.get(f"{exp}jobs/j1/").json()["results"] == {"r": 1}


def test_put_replaces_hyperparameters_and_results_but_keeps_managed_fields(api, exp):
    created = api.add_job("jobs", hyperparameters={"x": 1}, results={"old": 1}).json()
    api.request("PUT", f"{exp}jobs/{created['id']}/", {"status": "RUNNING", "results": {"new": 2}})
    body = api.http.get(f"{exp}jobs/{created['id']}/").json()
    assert body["hyperparameters"] == {}
    assert body["results"] == {"new": 2}
    assert body["createdAt"] == created["createdAt"]
    assert body["startedAt"] is not None


def test_nan_and_infinity_results_round_trip(api, exp):
    body = '{"status": "DONE", "results": {"loss": NaN, "best": Infinity, "worst": -Infinity, "curve": [1, NaN]}}'
    answer = api.request("POST", f"{exp}jobs/", body)
    assert answer.status_code == 201
    text = api.http.get(f"{exp}jobs/{answer.json()['id']}/").text
    assert '"loss":NaN' in text
    assert '"best":Infinity' in text
    assert '"worst":-Infinity' in text
    results = answer.json()["results"]
    assert math.isnan(results["loss"])
    assert math.isnan(results["curve"][1])


def test_nan_hyperparameters_are_refused(api, exp):
    answer = api.request("POST", f"{exp}jobs/", '{"hyperparameters": {"lr": NaN}}')
    assert answer.status_code == 422
    assert "hyperparameters.lr" in answer.json()["detail"]
    assert api.all_jobs("jobs") == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "not valid JSON"),
        (b"[1]", 422, "must be a JSON object"),
        (b'{"status": "FINISHED"}', 422, "Unknown job status 'FINISHED'"),
        (b'{"status": 3}', 422, "Unknown job status 3"),
        (b'{"hyperparameters": [1]}', 422, "hyperparameters must be a JSON object"),
        (b'{"results": "good"}', 422, "results must be a JSON object"),
        (b'{"result": {"acc": 1}}', 422, "Unknown job field(s) 'result'"),
    ],
)
def test_bad_job_bodies_get_a_readable_4xx_and_nothing_is_written(api, exp, body, status, message):
    answer = api.request("POST", f"{exp}jobs/", body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]
    assert api.all_jobs("jobs") == []


def test_put_needs_a_status(api, exp):
    answer = api.request("PUT", f"{exp}jobs/x/", {"results": {}})
    assert answer.status_code == 422
    assert "needs a status" in answer.json()["detail"]


def test_random_search_jobs_added_by_hand_need_its_hyperparameters(api):
    api.create_experiment("rs", RANDOM)
    bad = api.add_job("rs", hyperparameters={"lr": 0.1, "momentum": 0.9})
    assert bad.status_code == 422
    assert "unknown 'momentum'" in bad.json()["detail"]
    missing = api.add_job("rs", hyperparameters={})
    assert "missing 'lr'" in missing.json()["detail"]
    assert api.add_job("rs", hyperparameters={"lr": 0.1}).status_code == 201


def test_job_sent_back_as_read_is_accepted(api, exp):
    job = api.add_job("jobs", hyperparameters={"x": 1}).json()
    job["status"] = "DONE"
    assert api.request("PUT", f"{exp}jobs/{job['id']}/", job).status_code == 200


def test_delete_job_and_ensure(api, exp):
    job_id = api.add_job("jobs").json()["id"]
    assert api.http.delete(f"{exp}jobs/{job_id}/", headers={"If-Match": "*"}).status_code == 204
    assert api.http.get(f"{exp}jobs/{job_id}/").status_code == 404
    assert api.http.delete(f"{exp}jobs/{job_id}/").status_code == 204
    again = api.http.delete(f"{exp}jobs/{job_id}/", headers={"If-Match": "*"})
    assert again.status_code == 412


def test_jobs_of_a_missing_experiment_are_404(api):
    assert api.add_job("nope").status_code == 404
    assert api.http.get("experiments/nope/jobs/").status_code == 404
    assert api.http.get("experiments/nope/jobs/x/").status_code == 404


def test_listed_jobs_carry_their_etag(api, exp):
    created = api.add_job("jobs", hyperparameters={"x": 1})
    (listed,) = api.all_jobs("jobs")
    assert listed["etag"] == created.headers["etag"] == created.json()["etag"]
    update = api.request("PUT", f"{exp}jobs/{listed['id']}/", {"status": "DONE"}, headers={"If-Match": listed["etag"]})
    assert update.status_code == 200
    assert update.json()["etag"] == update.headers["etag"] != listed["etag"]


def test_list_pages_keep_order_and_lose_nothing(api, exp):
    ids = [api.add_job("jobs", hyperparameters={"i": i}).json()["id"] for i in range(23)]
    assert [j["id"] for j in api.all_jobs("jobs", limit=5)] == ids
    assert [j["id"] for j in api.all_jobs("jobs")] == ids


def test_default_page_is_bounded_and_limit_is_capped(api, exp):
    for _ in range(3):
        api.add_job("jobs")
    assert len(api.http.get(f"{exp}jobs/", params={"limit": 2}).json()["items"]) == 2
    assert api.http.get(f"{exp}jobs/", params={"limit": 0}).status_code == 422
    assert api.http.get(f"{exp}jobs/", params={"limit": 10**9}).status_code == 200


def test_times_follow_the_status(api, exp):
    job = api.add_job("jobs").json()
    assert job["startedAt"] is None
    assert job["finishedAt"] is None
    running = api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "RUNNING"}).json()
    assert running["startedAt"] is not None
    done = api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "DONE"}).json()
    assert done["finishedAt"] >= done["startedAt"] >= done["createdAt"]
    requeued = api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "QUEUED"}).json()
    assert (requeued["startedAt"], requeued["finishedAt"]) == (None, None)


def test_delete_with_a_stale_etag_is_412_and_keeps_the_job(api, exp):
    """As for PUT: a delete conditioned on the version you read does not delete a job changed since."""
    added = api.add_job("jobs", hyperparameters={"x": 1})
    stale = added.headers["etag"]
    job_id = added.json()["id"]
    updated = api.request(
        "PUT", f"{exp}jobs/{job_id}/", {"status": "DONE", "results": {"r": 1}}, headers={"If-Match": stale}
    )
    assert updated.status_code == 200
    refused = api.http.delete(f"{exp}jobs/{job_id}/", headers={"If-Match": stale})
    assert refused.status_code == 412
    assert "changed or deleted since you read it" in refused.json()["detail"]
    assert api.http.get(f"{exp}jobs/{job_id}/").json()["results"] == {"r": 1}
    # The current ETag deletes it; then the same ETag is 412 (gone), a bare DELETE still 204.
    assert api.http.delete(f"{exp}jobs/{job_id}/", headers={"If-Match": updated.headers["etag"]}).status_code == 204
    assert api.http.get(f"{exp}jobs/{job_id}/").status_code == 404
    assert api.http.delete(f"{exp}jobs/{job_id}/", headers={"If-Match": updated.headers["etag"]}).status_code == 412
    assert api.http.delete(f"{exp}jobs/{job_id}/").status_code == 204


@pytest.mark.parametrize("tag", ['"ffffffffffffffffffff-1"', '"1-99999999999999999999"', '"-1-1"', '"1--5"'])
def test_etags_no_job_can_have_are_412_for_put_and_delete(api, exp, tag):
    job = api.add_job("jobs", hyperparameters={"x": 1}).json()
    put = api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "DONE"}, headers={"If-Match": tag})
    assert put.status_code == 412, put.text
    assert api.http.delete(f"{exp}jobs/{job['id']}/", headers={"If-Match": tag}).status_code == 412
    assert api.http.get(f"{exp}jobs/{job['id']}/").json()["status"] == "QUEUED"
