"""The dashboard's HTTP endpoints and its cookie session, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import re

import httpx
import pytest

from schedy.server.dashboard.routes import STATIC, asset_version
from schedy.server.store import stats
from tests.dashboard import fill

API = "dashboard/api/"


def cookie_login(service) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=service.url, timeout=60)
    answer = http.post(API + "session/", json={"email": service.email, "password": service.password})
    assert answer.status_code == 200, answer.text
    return http, answer.json()["csrf"]


@pytest.fixture
def api(service):
    """An API client (Bearer) of the test's user."""
    http = fill.client(service.user)
    yield http
    http.close()


@pytest.fixture
def other(service):
    """An API client (Bearer) of another user."""
    http = fill.client(service.new_user())
    yield http
    http.close()


@pytest.fixture
def browser(service):
    """An HTTP client logged in like the dashboard (cookies), and its CSRF token."""
    http, csrf = cookie_login(service)
    yield http, csrf
    http.close()


def test_login_sets_an_httponly_samesite_strict_session_cookie(service):
    with httpx.Client(base_url=service.url) as http:
        _login_and_out(http, service)


def _login_and_out(http, service):
    answer = http.post(API + "session/", json={"email": service.email.upper(), "password": service.password})
    assert answer.status_code == 200
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    assert "httponly" in cookies["schedy_session"]
    assert "samesite=strict" in cookies["schedy_session"]
    assert "httponly" not in cookies["schedy_csrf"]
    assert "samesite=strict" in cookies["schedy_csrf"]
    assert answer.json()["csrf"] == http.cookies["schedy_csrf"]
    assert http.get(API + "session/").json() == {"email": service.email.lower()}
    assert http.delete(API + "session/").status_code == 204
    assert http.get(API + "session/").status_code == 401


def test_wrong_password_is_refused_and_sets_no_cookie(service):
    answer = httpx.post(service.url + API + "session/", json={"email": service.email, "password": "nope"})
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_login_takes_json_only_so_a_cross_site_form_cannot_log_in(service):
    answer = httpx.post(service.url + API + "session/", data={"email": service.email, "password": service.password})
    assert answer.status_code == 415
    assert "set-cookie" not in answer.headers


def test_cookie_requests_that_change_data_need_the_csrf_header(service, api, browser):
    http, csrf = browser
    body = json.dumps({"scheduler": {"Manual": None}})
    refused = http.put(fill.exp_path("csrf"), content=body)
    assert refused.status_code == 403
    assert "x-schedy-csrf" in refused.json()["detail"]
    assert http.put(fill.exp_path("csrf"), content=body, headers={"X-Schedy-CSRF": "forged"}).status_code == 403
    # The CSRF token of another user's session does not work either.
    intruder = service.new_user()
    with httpx.Client(base_url=service.url) as theirs:
        login = {"email": intruder.email, "password": intruder.password}
        their_csrf = theirs.post(API + "session/", json=login).json()["csrf"]
    assert http.put(fill.exp_path("csrf"), content=body, headers={"X-Schedy-CSRF": their_csrf}).status_code == 403
    assert http.put(fill.exp_path("csrf"), content=body, headers={"X-Schedy-CSRF": csrf}).status_code == 201
    assert http.get(fill.exp_path("csrf")).status_code == 200  # reads need no header
    # The Bearer path is unchanged: no CSRF header needed.
    assert api.delete(fill.exp_path("csrf")).status_code == 204


def test_a_cookie_session_cannot_claim_jobs_with_get_nextjob_without_the_csrf_header(service, api, browser):
    # GET nextjob (the 0.1.0b6 client's claim) changes data: a page of another site on the same host
    # (another port: the same site, so SameSite=Strict sends the cookie) must not claim jobs with <img src=…>.
    http, csrf = browser
    body = {"status": "RUNNING", "scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}}
    assert fill.put(api, fill.exp_path("claims"), body).status_code == 201
    refused = http.get(fill.exp_path("claims") + "nextjob/")
    assert refused.status_code == 403
    assert "x-schedy-csrf" in refused.json()["detail"]
    assert api.get(fill.exp_path("claims") + "jobs/").json()["items"] == []  # nothing claimed
    claimed = http.get(fill.exp_path("claims") + "nextjob/", headers={"X-Schedy-CSRF": csrf})
    assert claimed.status_code == 200, claimed.text
    # The Bearer path (the 0.1.0b6 client) needs no CSRF header.
    assert api.get(fill.exp_path("claims") + "nextjob/").status_code == 200
    assert len(api.get(fill.exp_path("claims") + "jobs/").json()["items"]) == 2


def test_experiment_list_has_counts_best_and_activity_and_only_my_experiments(api, other, browser):
    jobs = fill.random_search(api, "list-me", 60)
    fill.random_search(other, "not-mine", 3)
    http, _ = browser
    answer = http.get(API + "experiments/")
    assert answer.status_code == 200
    (item,) = answer.json()["items"]
    assert item["name"] == "list-me"
    assert item["scheduler"] == "RandomSearch"
    expected_counts: dict[str, int] = {}
    for job in jobs:
        expected_counts[job["status"]] = expected_counts.get(job["status"], 0) + 1
    assert item["jobCounts"] == expected_counts
    assert item["objective"] == {"name": "loss", "direction": "min", "declared": False}
    done = [j for j in jobs if j["status"] == "DONE"]
    finite = [(j["results"]["loss"], j["id"]) for j in done if math.isfinite(j["results"]["loss"])]
    assert item["best"] == {"job": min(finite)[1], "value": min(finite)[0]}
    assert item["lastActivity"] >= item["createdAt"]
    # Unchanged: 304; one more job: a new ETag.
    assert http.get(API + "experiments/", headers={"If-None-Match": answer.headers["etag"]}).status_code == 304
    api.post(fill.exp_path("list-me") + "jobs/", content=json.dumps({"hyperparameters": jobs[0]["hyperparameters"]}))
    again = http.get(API + "experiments/", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 200
    assert again.json()["items"][0]["jobCounts"]["QUEUED"] == expected_counts.get("QUEUED", 0) + 1


def test_columns_carry_every_job_with_non_finite_results_as_strings(service, api, browser):
    jobs = fill.random_search(api, "cols", 40)
    http, _ = browser
    answer = http.get(API + "experiments/cols/jobs/")
    assert answer.status_code == 200
    data = answer.json()  # plain JSON: a browser can parse it
    assert data["total"] == 40
    assert data["partial"] is False
    assert data["objective"]["name"] == "loss"
    columns = data["jobs"]
    order = sorted(range(40), key=lambda i: columns["pk"][i])  # aligned arrays, any order
    assert [columns["id"][i] for i in order] == [j["id"] for j in jobs]
    assert [columns["status"][i] for i in order] == [j["status"] for j in jobs]
    assert [columns["hyperparameters"][i] for i in order] == [j["hyperparameters"] for j in jobs]
    assert next(columns["results"][i] for i in order) == jobs[0]["results"]
    assert all(t is not None and t >= 0 for t in columns["created"])
    # Results holding NaN or Infinity come apart, with those numbers as strings.
    pk_of = {columns["id"][i]: columns["pk"][i] for i in range(40)}
    fixes = dict(data["nonFinite"])
    assert fixes[pk_of[jobs[7]["id"]]]["loss"] == "NaN"
    assert fixes[pk_of[jobs[11]["id"]]]["loss"] == "Infinity"
    assert fixes[pk_of[jobs[11]["id"]]]["loss_curve"] == jobs[11]["results"]["loss_curve"]


def _lines(text: str) -> dict[str, object]:
    """A full answer parsed line by line as the page does (api.js, ColumnLines): the layout it relies on."""
    first, *groups, last = text.split("\n")
    assert first.endswith(',"jobs":{')
    data = json.loads(first[: -len(',"jobs":{')] + "}")
    jobs: dict[str, object] = {}
    for line in groups:
        jobs.update(json.loads("{" + line.removesuffix(",") + "}"))
    assert last.startswith("},")
    data.update(json.loads("{" + last[2:]))
    data["jobs"] = jobs
    return data


def test_a_full_answer_comes_in_lines_each_parsed_on_its_own(service, api, browser):
    fill.random_search(api, "lines", 25)
    http, _ = browser
    fresh = http.get(API + "experiments/lines/jobs/")
    assert fresh.text.count("\n") == 1 + len(stats.FIELD_GROUPS)
    # The stored hyperparameters and results first: the page parses them while the rest is read.
    assert fresh.text.split("\n")[1].startswith('"hyperparameters":[')
    assert _lines(fresh.text) == fresh.json()
    assert fresh.json()["total"] == 25
    # The kept answer with a patch keeps the layout (the patch rides on the last line).
    new = {"hyperparameters": {"lr": 0.05, "layers": 2, "dropout": 0.1}}
    job = api.post(fill.exp_path("lines") + "jobs/", content=json.dumps(new))
    assert job.status_code == 201
    kept = http.get(API + "experiments/lines/jobs/")
    assert _lines(kept.text) == kept.json()
    assert kept.json()["patch"]["total"] == 26


def test_columns_since_a_cursor_send_what_changed_and_304_when_nothing_did(service, api, browser):
    jobs = fill.random_search(api, "delta", 20)
    http, _ = browser
    first = http.get(API + "experiments/delta/jobs/")
    tag, cursor = first.headers["etag"], first.json()["cursor"]
    unchanged = http.get(API + "experiments/delta/jobs/", params={"since": cursor}, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304
    job = jobs[3]
    body = json.dumps({**job, "status": "DONE", "results": {"loss": 0.5}})
    assert api.put(fill.exp_path("delta") + f"jobs/{job['id']}/", content=body).status_code == 200
    changed = http.get(API + "experiments/delta/jobs/", params={"since": cursor}, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    data = changed.json()
    assert data["partial"] is True
    assert data["total"] == 20
    assert float(data["cursor"]) > float(cursor)
    at = data["jobs"]["id"].index(job["id"])
    assert data["jobs"]["status"][at] == "DONE"
    assert data["jobs"]["results"][at] == {"loss": 0.5}
    assert http.get(API + "experiments/delta/jobs/", params={"since": "soon"}).status_code == 400


def _merged(*answers) -> dict[int, tuple]:
    """Jobs by pk after applying answers in order, as the page merges them."""
    jobs: dict[int, tuple] = {}
    for data in answers:
        if not data["partial"]:
            jobs.clear()
        c = data["jobs"]
        for i, pk in enumerate(c["pk"]):
            jobs[pk] = (c["id"][i], c["status"][i], c["hyperparameters"][i], c["results"][i], c["finished"][i])
        for pk, results in data.get("nonFinite", []):
            jobs[pk] = (*jobs[pk][:3], results, jobs[pk][4])
    return jobs


def test_a_full_answer_after_changes_is_the_kept_one_plus_a_patch_of_them(service, api, browser):
    jobs = fill.random_search(api, "patched", 30)
    http, _ = browser
    first = http.get(API + "experiments/patched/jobs/").json()
    assert "patch" not in first
    queued = next(j for j in jobs if j["status"] == "QUEUED")
    body = json.dumps({**queued, "status": "DONE", "results": {"loss": 0.25}})
    assert api.put(fill.exp_path("patched") + f"jobs/{queued['id']}/", content=body).status_code == 200
    new = {"hyperparameters": {"lr": 0.05, "layers": 2, "dropout": 0.1}}
    added = api.post(fill.exp_path("patched") + "jobs/", content=json.dumps(new))
    assert added.status_code == 201, added.text

    again = http.get(API + "experiments/patched/jobs/").json()
    patch = again["patch"]
    assert patch["partial"] is True
    assert patch["total"] == 31
    assert {queued["id"], added.json()["id"]} <= set(patch["jobs"]["id"])
    fresh = http.get(API + "experiments/patched/jobs/", params={"full": "true"}).json()
    assert "patch" not in fresh
    assert fresh["total"] == 31
    assert _merged(again, patch) == _merged(fresh)
    assert _merged(fresh)[next(pk for pk, j in _merged(fresh).items() if j[0] == queued["id"])][1:4:2] == (
        "DONE",
        {"loss": 0.25},
    )


def test_after_a_deletion_the_patched_answer_comes_out_short_of_the_total(service, api, browser):
    jobs = fill.random_search(api, "pruned", 12)
    http, _ = browser
    http.get(API + "experiments/pruned/jobs/")
    assert api.delete(fill.exp_path("pruned") + f"jobs/{jobs[4]['id']}/").status_code == 204
    again = http.get(API + "experiments/pruned/jobs/").json()
    # The page sees the merge hold more jobs than the total and asks for a fresh read.
    assert len(_merged(again, again["patch"])) == 12 != again["patch"]["total"] == 11
    fresh = http.get(API + "experiments/pruned/jobs/", params={"full": "true"}).json()
    assert len(_merged(fresh)) == fresh["total"] == 11
    assert jobs[4]["id"] not in fresh["jobs"]["id"]


def test_an_experiment_made_again_under_its_name_is_read_afresh(service, api, browser):
    fill.random_search(api, "again", 5)
    http, _ = browser
    assert http.get(API + "experiments/again/jobs/").json()["total"] == 5
    assert api.delete(fill.exp_path("again")).status_code == 204
    jobs = fill.random_search(api, "again", 3, seed=1)  # on SQLite it may get the same id
    answer = http.get(API + "experiments/again/jobs/").json()
    assert "patch" not in answer
    assert sorted(answer["jobs"]["id"]) == sorted(j["id"] for j in jobs)


def test_many_changes_since_the_kept_answer_mean_a_fresh_read(service, browser):
    fill.bulk(service.process.database_url, service.email, "churn", 100)
    http, _ = browser
    assert http.get(API + "experiments/churn/jobs/").json()["total"] == 100
    fill.add_done(service.process.database_url, service.email, "churn", 2001)
    again = http.get(API + "experiments/churn/jobs/").json()
    assert "patch" not in again
    assert again["partial"] is False
    assert len(_merged(again)) == again["total"] == 2101


def test_job_detail_has_parent_children_and_etag(service, api, browser):
    done = fill.pbt(api, "pbt-detail", members=3, generations=3)
    child = next(j for j in done if j["parent"] is not None)
    http, _ = browser
    answer = http.get(API + f"experiments/pbt-detail/jobs/{child['parent']}/")
    assert answer.status_code == 200
    parent = answer.json()
    assert child["id"] in [c["id"] for c in parent["children"]]
    mine = http.get(API + f"experiments/pbt-detail/jobs/{child['id']}/").json()
    assert mine["parentJob"]["id"] == child["parent"]
    assert mine["etag"] == api.get(fill.exp_path("pbt-detail") + f"jobs/{child['id']}/").headers["etag"]
    assert http.get(API + "experiments/pbt-detail/jobs/nope/").status_code == 404


def test_requeue_puts_a_crashed_job_back_and_refuses_others(service, api, browser):
    jobs = fill.random_search(api, "requeue", 6)
    crashed = next(j for j in jobs if j["status"] == "CRASHED")
    done = next(j for j in jobs if j["status"] == "DONE")
    http, csrf = browser
    headers = {"X-Schedy-CSRF": csrf}
    path = API + "experiments/requeue/jobs/{}/requeue/"
    assert http.post(path.format(done["id"]), headers=headers).status_code == 409
    assert http.post(path.format(crashed["id"]), headers={**headers, "If-Match": '"0-0"'}).status_code == 412
    answer = http.post(path.format(crashed["id"]), headers=headers)
    assert answer.status_code == 200, answer.text
    assert api.get(fill.exp_path("requeue") + f"jobs/{crashed['id']}/").json()["status"] == "QUEUED"
    assert http.post(path.format(crashed["id"]), headers={}).status_code == 403  # no CSRF header


def test_status_endpoint_marks_done_and_running(service, api, browser):
    fill.put(api, fill.exp_path("st"), {"scheduler": {"Manual": None}})
    http, csrf = browser
    path = API + "experiments/st/status/"
    assert http.put(path, json={"status": "DONE"}, headers={"X-Schedy-CSRF": csrf}).json()["status"] == "DONE"
    assert api.get(fill.exp_path("st")).json()["status"] == "DONE"
    assert http.put(path, json={"status": "PAUSED"}, headers={"X-Schedy-CSRF": csrf}).status_code == 422
    assert http.put(path, json={"status": "RUNNING"}, headers={"X-Schedy-CSRF": csrf}).json()["status"] == "RUNNING"


def test_another_users_experiment_is_not_found(other, browser):
    fill.random_search(other, "theirs", 3)
    http, _ = browser
    assert http.get(API + "experiments/theirs/jobs/").status_code == 404
    assert http.get(API + "experiments/").json()["items"] == []


@pytest.mark.parametrize("path", ["experiments/", "experiments/x/jobs/", "session/"])
def test_the_dashboard_api_needs_a_session(service, path):
    assert httpx.get(service.url + API + path).status_code == 401


def test_the_page_and_its_assets_load_nothing_from_elsewhere(service):
    page = httpx.get(service.url)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    [src] = re.findall(r'<script type="module" src="(dashboard/static/[^"]+)"', page.text)
    assert re.fullmatch(r"dashboard/static/[0-9a-f]{12}/app\.js", src)
    # The page's URLs name the files' version: kept by the browser with no request until they change.
    asset = httpx.get(service.url + src)
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    assert asset.text == (STATIC / "app.js").read_text()
    # Without a version (an old page, a script): revalidated every time, answered 304 when unchanged.
    plain = httpx.get(service.url + "dashboard/static/app.js")
    assert plain.headers["cache-control"] == "no-cache"
    again = httpx.get(service.url + "dashboard/static/app.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(service.url + "dashboard/static/000000000000/app.js").status_code == 404


def test_the_asset_version_changes_with_any_file(tmp_path):
    for name, text in [("app.js", "a"), ("style.css", "b")]:
        (tmp_path / name).write_text(text)
    first = asset_version(tmp_path)
    assert asset_version(tmp_path) == first
    (tmp_path / "style.css").write_text("c")
    assert asset_version(tmp_path) != first


@pytest.mark.parametrize(
    ("scheme", "public_url", "secure"),
    [("http", None, False), ("https", None, True), ("http", "https://schedy.example.com/", True)],
)
def test_the_session_cookie_is_secure_over_https(scheme, public_url, secure):
    from starlette.requests import Request
    from starlette.responses import Response

    from schedy.server.dashboard import cookies

    request = Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "POST",
            "path": "/",
            "headers": [],
            "server": ("schedy.example.com", 443),
            "query_string": b"",
        }
    )
    response = Response()
    cookies.set_session(response, request, "token", 60, public_url)
    for header in response.headers.getlist("set-cookie"):
        assert ("secure" in header.lower()) is secure
        assert "samesite=strict" in header.lower()


def test_a_model_based_search_declares_its_objective(api, browser):
    fill.put(
        api,
        fill.exp_path("tpe"),
        {
            "scheduler": {
                "TPESearch": {
                    "distributions": {"x": {"uniform": {"low": 0, "high": 1}}},
                    "objective": "max",
                    "resultName": "acc",
                }
            }
        },
    )
    for acc in (0.2, 0.9, 0.5):
        body = {"status": "DONE", "hyperparameters": {"x": acc}, "results": {"loss": 1 - acc, "acc": acc}}
        assert api.post(fill.exp_path("tpe") + "jobs/", content=json.dumps(body)).status_code == 201
    http, _ = browser
    [item] = [i for i in http.get(API + "experiments/").json()["items"] if i["name"] == "tpe"]
    assert item["objective"] == {"name": "acc", "direction": "max", "declared": True}
    assert item["best"]["value"] == 0.9
