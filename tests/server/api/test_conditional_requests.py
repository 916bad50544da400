"""Conditional headers (RFC 9110), status-less experiment PUTs, event times, foreign page tokens, artifact DELETEs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

MANUAL = {"status": "RUNNING", "scheduler": {"Manual": None}}


# -- experiments: If-Match is * or fails (they have no ETag) -------------------------------------


def test_if_match_star_never_creates_an_experiment(api):
    answer = api.request("PUT", "experiments/im/", MANUAL, headers={"If-Match": "*"})
    assert answer.status_code == 412, answer.text
    assert "does not exist" in answer.json()["detail"]
    assert api.http.get("experiments/im/").status_code == 404


def test_if_match_star_replaces_an_existing_experiment(api):
    api.create_experiment("im")
    body = {"status": "DONE", "scheduler": {"Manual": None}}
    answer = api.request("PUT", "experiments/im/", body, headers={"If-Match": "*"})
    assert answer.status_code == 200, answer.text
    assert api.http.get("experiments/im/").json()["status"] == "DONE"


@pytest.mark.parametrize("tag", ['"nope"', 'W/"nope"', '"1-1", "2-1"'])
def test_an_etag_in_if_match_never_matches_an_experiment_and_changes_nothing(api, tag):
    api.create_experiment("im")
    api.add_job("im")
    deleted = api.http.delete("experiments/im/", headers={"If-Match": tag})
    assert deleted.status_code == 412, deleted.text
    assert "If-Match can only be *" in deleted.json()["detail"]
    replaced = api.request(
        "PUT", "experiments/im/", {"status": "DONE", "scheduler": {"Manual": None}}, headers={"If-Match": tag}
    )
    assert replaced.status_code == 412, replaced.text
    body = api.http.get("experiments/im/?counts=true").json()
    assert (body["status"], body["jobCounts"]["QUEUED"]) == ("RUNNING", 1)
    # Nothing to match on a missing one either: 412, not a creation.
    assert api.request("PUT", "experiments/absent/", MANUAL, headers={"If-Match": tag}).status_code == 412
    assert api.http.get("experiments/absent/").status_code == 404


def test_the_0_1_0b6_deletes_still_work(api):
    api.create_experiment("gone")
    assert api.http.delete("experiments/gone/", headers={"If-Match": "*"}).status_code == 204
    assert api.http.delete("experiments/gone/", headers={"If-Match": "*"}).status_code == 412
    assert api.http.delete("experiments/gone/").status_code == 204


# -- jobs: If-None-Match with ETags ----------------------------------------------------------


def test_if_none_match_of_the_jobs_current_etag_is_412_and_changes_nothing(api):
    api.create_experiment("inm")
    added = api.add_job("inm", hyperparameters={"x": 1})
    job_id, current = added.json()["id"], added.headers["etag"]
    path = f"experiments/inm/jobs/{job_id}/"
    for header in (current, f"W/{current}", f'"ffff-9", {current}'):
        answer = api.request("PUT", path, {"status": "DONE"}, headers={"If-None-Match": header})
        assert answer.status_code == 412, (header, answer.text)
        assert "still the version If-None-Match names" in answer.json()["detail"]
    both = api.request("PUT", path, {"status": "DONE"}, headers={"If-Match": current, "If-None-Match": current})
    assert both.status_code == 412, both.text
    after = api.http.get(path)
    assert (after.json()["status"], after.headers["etag"]) == ("QUEUED", current)


def test_if_none_match_of_an_old_etag_updates_the_job(api):
    api.create_experiment("inm")
    added = api.add_job("inm", hyperparameters={"x": 1})
    job_id, old = added.json()["id"], added.headers["etag"]
    path = f"experiments/inm/jobs/{job_id}/"
    moved = api.request("PUT", path, {"status": "RUNNING", "hyperparameters": {"x": 1}})
    assert moved.status_code == 200
    answer = api.request("PUT", path, {"status": "DONE", "hyperparameters": {"x": 1}}, headers={"If-None-Match": old})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "DONE"
    assert answer.headers["etag"] not in (old, moved.headers["etag"])
    # On an absent job no ETag matches: it is created.
    made = api.request("PUT", "experiments/inm/jobs/fresh/", {"status": "QUEUED"}, headers={"If-None-Match": old})
    assert made.status_code == 201, made.text


# -- experiments: a PUT without a status keeps it ---------------------------------------------


def test_a_put_without_status_keeps_a_paused_experiment_paused(api):
    api.create_experiment("st", status="DONE")
    api.add_job("st")
    answer = api.request("PUT", "experiments/st/", {"scheduler": {"RandomSearch": {"x": {"const": 1}}}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "DONE"
    assert api.http.get("experiments/st/nextjob/").status_code == 204
    # A new experiment without a status starts RUNNING.
    made = api.request("PUT", "experiments/fresh/", {"scheduler": {"Manual": None}})
    assert (made.status_code, made.json()["status"]) == (201, "RUNNING")


# -- events: times are ISO 8601 UTC ---------------------------------------------------------


def test_event_times_are_iso_8601_utc(api):
    api.create_experiment("silent")
    api.add_job("silent")
    api.request("POST", "experiments/silent/nextjob/", {"heartbeat": 0.1})
    deadline = time.monotonic() + 30
    events: list[dict[str, object]] = []
    while not events and time.monotonic() < deadline:  # the lease lapses, the sweep logs it
        time.sleep(0.2)
        events = api.http.get("experiments/silent/events/").json()["items"]
    assert events, "the lapsed lease was never logged"
    created = events[0]["createdAt"]
    assert isinstance(created, str), created
    assert created.endswith("Z"), created
    assert datetime.fromisoformat(created).utcoffset() == timedelta(0)


# -- page tokens are bound to their list ----------------------------------------------------


def test_a_page_token_is_refused_by_every_other_list(service, api):
    from tests.server.conftest import Api

    for name in ("one", "two"):
        api.create_experiment(name)
        for _ in range(3):
            api.add_job(name)
    jobs_token = api.http.get("experiments/one/jobs/", params={"limit": 1}).json()["next"]
    exps_token = api.http.get("experiments/", params={"limit": 1}).json()["next"]
    assert jobs_token
    assert exps_token
    refused = [
        ("experiments/", jobs_token),
        ("experiments/two/jobs/", jobs_token),
        ("experiments/one/events/", jobs_token),
        ("experiments/one/artifacts/", jobs_token),
        ("experiments/one/jobs/", exps_token),
    ]
    for path, token in refused:
        answer = api.http.get(path, params={"start": token})
        assert answer.status_code == 400, (path, answer.text)
        assert "was given for" in answer.json()["detail"], answer.text
    # Another user's list of the same name is another list too.
    other = Api(service.url, service.new_user())
    try:
        other.create_experiment("one")
        assert other.http.get("experiments/one/jobs/", params={"start": jobs_token}).status_code == 400
        assert other.http.get("experiments/", params={"start": exps_token}).status_code == 400
    finally:
        other.close()
    # The list that gave them still takes them, and they stay short.
    assert len(jobs_token) < 32
    rest = api.http.get("experiments/one/jobs/", params={"start": jobs_token}).json()
    assert len(rest["items"]) == 2
    assert [e["name"] for e in api.http.get("experiments/", params={"start": exps_token}).json()["items"]] == ["two"]


# -- artifacts: DELETE of a missing one is 204, as every DELETE ----------------------------------


def test_deleting_a_missing_artifact_is_204_unless_if_match(api):
    api.create_experiment("art")
    job_id = api.add_job("art").json()["id"]
    path = f"experiments/art/jobs/{job_id}/artifacts/"
    assert api.http.put(path + "model.pt/", content=b"weights").status_code == 201
    etag = api.http.get(path + "model.pt/").headers["etag"]
    stale = api.http.delete(path + "model.pt/", headers={"If-Match": '"0000"'})
    assert stale.status_code == 412, stale.text
    assert api.http.delete(path + "model.pt/", headers={"If-Match": etag}).status_code == 204
    assert api.http.delete(path + "model.pt/").status_code == 204  # gone already: still 204
    ensured = api.http.delete(path + "model.pt/", headers={"If-Match": "*"})
    assert ensured.status_code == 412, ensured.text
    assert "has no artifact 'model.pt'" in ensured.json()["detail"]
    assert api.http.delete("experiments/art/jobs/nojob/artifacts/model.pt/").status_code == 404
    assert api.http.delete("experiments/noexp/jobs/x/artifacts/model.pt/").status_code == 404


def test_a_conditional_update_of_a_job_that_never_existed_says_so(api):
    api.create_experiment("ghost")
    answer = api.http.put("experiments/ghost/jobs/never-made/", json={"status": "DONE"}, headers={"If-Match": '"1-1"'})
    assert answer.status_code == 412, answer.text
    assert "or never existed in experiment 'ghost'" in answer.json()["detail"]
    assert api.http.get("experiments/ghost/jobs/never-made/").status_code == 404  # nothing was made


def test_report_page_tokens_are_refused_by_other_lists(api):
    api.create_experiment("rep")
    jobs = [api.add_job("rep", status="RUNNING").json()["id"] for _ in range(2)]
    for job_id in jobs:
        for step in range(3):
            sent = api.http.post(f"experiments/rep/jobs/{job_id}/reports/", json={"step": step, "metrics": {"x": 1}})
            assert sent.status_code in (200, 201), sent.text
    first = api.http.get(f"experiments/rep/jobs/{jobs[0]}/reports/", params={"limit": 1}).json()["next"]
    every = api.http.get("experiments/rep/reports/", params={"limit": 1}).json()["next"]
    for path, token in (
        (f"experiments/rep/jobs/{jobs[1]}/reports/", first),
        ("experiments/rep/reports/", first),
        (f"experiments/rep/jobs/{jobs[0]}/reports/", every),
        ("experiments/rep/jobs/", every),
    ):
        answer = api.http.get(path, params={"start": token})
        assert answer.status_code == 400, (path, answer.text)
        assert "was given for" in answer.json()["detail"]
    assert len(api.http.get(f"experiments/rep/jobs/{jobs[0]}/reports/", params={"start": first}).json()["items"]) == 2
    assert len(api.http.get("experiments/rep/reports/", params={"start": every}).json()["items"]) == 5
