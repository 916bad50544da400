"""Bodies that are JSON yet not storable text or absurdly deep: 400 with one sentence, on every entry point.

``json.loads`` accepts an escaped lone UTF-16 surrogate (``"\\udcff"``), which no database
and no UTF-8 answer can hold; and it parses nesting close to Python's recursion limit, which
later steps (validation, storage, answers) would then exceed. Both used to answer 500.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import exp_path

LONE_SURROGATE = '"\\udcff"'


def _deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def _requests(api, value: str) -> list[tuple[str, str, str, dict[str, str]]]:
    """(method, path, body, headers) of every JSON entry point, ``value`` placed where a string goes."""
    api.create_experiment("texts")
    job = api.add_job("texts", hyperparameters={"x": 1}).json()
    claimed = api.request("POST", exp_path("texts") + "nextjob/", {}).json()
    job_path = exp_path("texts") + f"jobs/{job['id']}/"
    reports_path = exp_path("texts") + f"jobs/{claimed['id']}/reports/"
    as_json = {"Content-Type": "application/json"}
    return [
        ("POST", "token/", f'{{"email": {value}, "token": "x"}}', {}),
        ("POST", "passauth/", f'{{"email": "a@b.c", "token": {value}}}', {}),
        ("PUT", exp_path("other"), f'{{"status": "RUNNING", "scheduler": {{"Manual": null}}, "x": {value}}}', {}),
        ("POST", exp_path("texts") + "jobs/", f'{{"hyperparameters": {{"x": {value}}}}}', {}),
        # the fast path (api/hotpath.py)
        ("PUT", job_path, f'{{"results": {{"r": {value}}}}}', {"If-Match": job["etag"]}),
        ("POST", exp_path("texts") + "nextjob/", f'{{"worker": {value}}}', {}),
        ("POST", reports_path, f'{{"step": 1, "metrics": {{"m": {value}}}}}', {}),
        ("POST", "dashboard/api/session/", f'{{"email": {value}, "password": "x"}}', as_json),
    ]


@pytest.mark.parametrize("what", ["lone surrogate", "deep nesting"])
def test_unstorable_text_and_deep_nesting_are_400_and_change_nothing(api, what):
    value = LONE_SURROGATE if what == "lone surrogate" else _deep(950)
    requests = _requests(api, value)
    before = api.all_jobs("texts")
    for method, path, body, headers in requests:
        answer = api.request(method, path, body.encode(), headers=headers)
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        detail = answer.json()["detail"]
        assert ("surrogate" in detail) if what == "lone surrogate" else ("levels deep" in detail), detail
    assert api.all_jobs("texts") == before
    assert api.http.get(exp_path("other")).status_code == 404


def test_surrogate_pairs_and_reasonable_nesting_are_kept(api):
    """A pair (an emoji written as two escapes) is text; 50 levels of lists are a value like any other."""
    api.create_experiment("kept")
    body = '{"hyperparameters": {"x": "\\ud83d\\ude00", "deep": ' + _deep(50) + "}}"
    added = api.request("POST", exp_path("kept") + "jobs/", body.encode())
    assert added.status_code == 201, added.text
    job = api.http.get(exp_path("kept") + f"jobs/{added.json()['id']}/").json()
    assert job["hyperparameters"]["x"] == "\N{GRINNING FACE}"
    assert job["hyperparameters"]["deep"] == eval(_deep(50))  # noqa: S307 - our own literal
