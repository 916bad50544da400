"""The fast path of nextjob and job updates (api/hotpath.py) answers as the routes do."""

from __future__ import annotations

import json

from tests.server.conftest import exp_path


def test_names_with_slashes_and_spaces_work_on_the_fast_path(api):
    name = "a/b c%"
    api.create_experiment(name)
    added = api.add_job(name, hyperparameters={"x": 1})
    assert added.status_code == 201
    claimed = api.request("POST", exp_path(name) + "nextjob/", {"worker": "w"})
    assert claimed.status_code == 200, claimed.text
    job = claimed.json()
    assert job["experiment"] == name
    done = api.request(
        "PUT",
        exp_path(name) + f"jobs/{job['id']}/",
        {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"loss": 0.5}},
        headers={"If-Match": claimed.headers["etag"]},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "DONE"


def test_fast_path_and_route_answer_alike(api):
    api.create_experiment("alike")
    api.add_job("alike", hyperparameters={"x": 1})
    api.add_job("alike", hyperparameters={"x": 2})
    by_route = api.http.get(exp_path("alike") + "nextjob/")  # GET: served by FastAPI
    by_fast_path = api.request("POST", exp_path("alike") + "nextjob/", {})
    for answer in (by_route, by_fast_path):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["etag"] == answer.json()["etag"]
    assert by_route.json().keys() == by_fast_path.json().keys()
    empty = api.request("POST", exp_path("alike") + "nextjob/", {})
    assert empty.status_code == 204
    assert empty.content == b""


def test_oversized_job_update_is_413_and_nothing_is_written(api):
    api.create_experiment("big")
    job = api.add_job("big", hyperparameters={"x": 1}).json()
    body = json.dumps({"status": "DONE", "results": {"blob": "x" * (2 << 20)}})
    answer = api.request("PUT", exp_path("big") + f"jobs/{job['id']}/", body, headers={"If-Match": job["etag"]})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert api.http.get(exp_path("big") + f"jobs/{job['id']}/").json()["status"] == "QUEUED"


def test_errors_on_the_fast_path_are_problems(api):
    missing = api.request("POST", exp_path("nope") + "nextjob/", {})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "does not exist" in missing.json()["detail"]
    bad_token = api.http.post(exp_path("nope") + "nextjob/", headers={"Authorization": "Bearer forged"})
    assert bad_token.status_code == 401
    assert bad_token.headers["www-authenticate"].startswith("Bearer")
    api.create_experiment("opts")
    bad_options = api.request("POST", exp_path("opts") + "nextjob/", {"wiat": 3})
    assert bad_options.status_code == 422
    assert "wiat" in bad_options.json()["detail"]


def test_requests_the_fast_path_does_not_take_still_work(api):
    api.create_experiment("other")
    api.add_job("other", hyperparameters={"x": 1})
    # No trailing slash: FastAPI redirects, as for every route.
    answer = api.request("POST", exp_path("other") + "nextjob", {}, follow_redirects=False)
    assert answer.status_code in (307, 308)


def test_every_middleware_has_a_decision_for_the_fast_path(tmp_path, monkeypatch):
    """The fast path answers before any middleware: a new one must say what it means for it."""
    from schedy.server.api.app import create_app
    from schedy.server.api.hotpath import FAST_PATH_DECISIONS
    from schedy.server.settings import Settings

    monkeypatch.setenv("SCHEDY_ROOT", str(tmp_path))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'decisions.db'}"))
    installed = [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
    undecided = set(installed) - set(FAST_PATH_DECISIONS)
    assert not undecided, f"add a fast-path decision to hotpath.FAST_PATH_DECISIONS for {sorted(undecided)}"
    assert installed[0] == "HotPaths", "the fast path must stay the outermost middleware"


def _chunked(payload: bytes):
    for start in range(0, len(payload), 64 << 10):
        yield payload[start : start + (64 << 10)]


def test_a_streamed_body_over_the_limit_is_413_on_both_paths(api):
    """Without Content-Length, both readers count the body as it arrives, with one rule and one sentence."""
    api.create_experiment("streamed")
    job = api.add_job("streamed", hyperparameters={"x": 1}).json()
    payload = json.dumps({"status": "DONE", "results": {"blob": "x" * (2 << 20)}}).encode()
    fast = api.http.put(
        exp_path("streamed") + f"jobs/{job['id']}/",  # the fast path
        content=_chunked(payload),
        headers={"If-Match": job["etag"], "Content-Type": "application/json"},
    )
    framework = api.http.post(
        exp_path("streamed") + "jobs/",  # a route of the framework
        content=_chunked(payload),
        headers={"Content-Type": "application/json"},
    )
    for answer in (fast, framework):
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert fast.json()["detail"] == framework.json()["detail"]
    assert "limit of" in fast.json()["detail"]
    jobs = api.all_jobs("streamed")
    assert [j["status"] for j in jobs] == ["QUEUED"]


def test_every_answer_carries_the_security_headers(api):
    """API, fast path (answers and errors), dashboard page and static files: nosniff and no referrer."""
    api.create_experiment("headers")
    api.add_job("headers", hyperparameters={"x": 1})
    answers = [
        api.http.get("experiments/"),
        api.request("POST", exp_path("headers") + "nextjob/", {}),  # fast path, 200
        api.request("POST", exp_path("headers") + "nextjob/", {}),  # fast path, 204
        api.request("POST", exp_path("missing") + "nextjob/", {}),  # fast path, 404 problem
        api.http.get("ping/"),
        api.http.get("/"),  # the dashboard
        api.http.get("dashboard/static/app.js"),
        api.http.get("openapi.json"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 204, 404, 200, 200, 200, 200]
    for answer in answers:
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url
        assert answer.headers.get("referrer-policy") == "no-referrer", answer.request.url


def test_reports_take_the_fast_path_with_the_routes_answers(api):
    """``POST …/jobs/ID/reports/`` (once per epoch per worker): same verdict, errors and limits as the route."""
    name = "rep/orts %"
    api.create_experiment(name)
    api.add_job(name, hyperparameters={"x": 1})
    job = api.request("POST", exp_path(name) + "nextjob/", {"heartbeat": 30}).json()
    reports = exp_path(name) + f"jobs/{job['id']}/reports/"
    verdict = api.request("POST", reports, {"step": 1, "metrics": {"loss": 0.5}})
    assert verdict.status_code == 200, verdict.text
    assert verdict.headers["content-type"] == "application/json"
    body = verdict.json()
    assert body["stop"] is False
    assert body["reason"] is None
    assert body["leaseExpiresAt"].endswith("Z")
    bad = api.request("POST", reports, {"step": -1})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert "non-negative integer" in bad.json()["detail"]
    huge = json.dumps({"reports": [{"step": 2, "metrics": {"blob": 1.0, "x" * (2 << 20): 1.0}}]})
    assert api.request("POST", reports, huge).status_code == 413
    missing = api.request("POST", exp_path(name) + "jobs/nope/reports/", {"step": 1})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    kept = api.http.get(reports).json()
    assert [(r["step"], r["metrics"]) for r in kept["items"]] == [(1, {"loss": 0.5})]
