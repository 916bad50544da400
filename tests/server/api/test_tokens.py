"""[ext] tokens/ and tokens/ID/: a user's API tokens, listed without secrets, revoked one by one."""

from __future__ import annotations

import time

import httpx


def _login(url, email, token):
    return httpx.post(url + "token/", json={"email": email, "token": token})


def test_list_shows_ids_labels_and_times_but_no_secret(api, service):
    api.request("POST", "resettoken/")
    answer = api.http.get("tokens/")
    assert answer.status_code == 200
    page = answer.json()
    assert page["next"] is None
    assert [set(item) for item in page["items"]] == [{"id", "label", "createdAt", "revokedAt", "current"}] * 2
    assert [(item["label"], item["revokedAt"]) for item in page["items"]] == [("test", None), ("resettoken", None)]
    assert all(isinstance(item["id"], int) and item["createdAt"].endswith("Z") for item in page["items"])
    assert service.api_token not in answer.text


def test_revoke_ends_the_token_and_keeps_the_others(api, service):
    new_token = api.request("POST", "resettoken/").json()["token"]
    items = api.http.get("tokens/").json()["items"]
    assert api.http.delete(f"tokens/{items[1]['id']}/").status_code == 204
    assert _login(service.url, service.email, new_token).status_code == 403
    assert _login(service.url, service.email, service.api_token).status_code == 200
    after = api.http.get("tokens/").json()["items"]
    assert after[0]["revokedAt"] is None
    assert after[1]["revokedAt"].endswith("Z")
    # Revoking again changes nothing and is not an error.
    assert api.http.delete(f"tokens/{items[1]['id']}/").status_code == 204
    assert api.http.get("tokens/").json()["items"][1]["revokedAt"] == after[1]["revokedAt"]


def test_revoking_the_sessions_own_token_ends_the_session(api, service):
    (mine,) = api.http.get("tokens/").json()["items"]
    assert api.http.delete(f"tokens/{mine['id']}/").status_code == 204
    deadline = time.monotonic() + 15  # sessions are re-checked every 5 s
    while api.http.get("tokens/").status_code != 401:
        assert time.monotonic() < deadline, "the revoked token's session kept working"
        time.sleep(0.25)


def test_another_users_token_is_not_found(api, service):
    other = service.new_user()
    with httpx.Client(base_url=service.url) as theirs:
        jwt = theirs.post("token/", json={"email": other.email, "token": other.api_token}).json()["token"]
        theirs.headers["Authorization"] = f"Bearer {jwt}"
        (their_token,) = theirs.get("tokens/").json()["items"]
        assert [t["id"] for t in api.http.get("tokens/").json()["items"]] != [their_token["id"]]
    answer = api.http.delete(f"tokens/{their_token['id']}/")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert f"no API token with id {their_token['id']}" in answer.json()["detail"]
    assert _login(service.url, other.email, other.api_token).status_code == 200


def test_ids_that_name_no_token_are_not_found(api):
    for token_id in ("abc", "0", "-1", "99999999999999999999", "%C2%B3"):
        answer = api.http.delete(f"tokens/{token_id}/")
        assert answer.status_code == 404, token_id
        assert answer.headers["content-type"] == "application/problem+json"


def test_tokens_need_a_session(service):
    assert httpx.get(service.url + "tokens/").status_code == 401
    assert httpx.delete(service.url + "tokens/1/").status_code == 401


def test_a_new_token_can_be_labelled_and_a_bad_label_creates_none(api, service):
    assert api.http.post("resettoken/", json={"label": "  laptop of ada  "}).status_code == 200
    assert api.http.post("resettoken/", json={}).status_code == 200  # no label: the default
    bad = [
        {"label": ""},
        {"label": "x" * 201},
        {"label": "two\nlines"},
        {"label": 7},
        {"name": "laptop"},
        ["laptop"],
    ]
    for body in bad:
        refused = api.http.post("resettoken/", json=body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"].startswith("application/problem+json")
        detail = refused.json()["detail"]
        assert detail.endswith("."), detail  # one sentence a person can act on
        assert "\n" not in detail, detail
        assert "label" in detail, detail
    labels = [item["label"] for item in api.http.get("tokens/").json()["items"]]
    assert labels == ["test", "laptop of ada", "resettoken"]  # nothing created by the refused requests


def test_the_list_marks_the_token_the_session_was_opened_with(api, service):
    """An API token's session sees which token is its own; a password session (the dashboard's) sees none."""
    second = api.request("POST", "resettoken/", {"label": "second"}).json()["token"]
    assert [(t["label"], t["current"]) for t in api.http.get("tokens/").json()["items"]] == [
        ("test", True),
        ("second", False),
    ]
    with httpx.Client(base_url=service.url) as other:
        jwt = _login(service.url, service.email, second).json()["token"]
        other.headers["Authorization"] = f"Bearer {jwt}"
        assert [t["current"] for t in other.get("tokens/").json()["items"]] == [False, True]
        jwt = other.post("passauth/", json={"email": service.email, "token": service.password}).json()["token"]
        other.headers["Authorization"] = f"Bearer {jwt}"
        assert [t["current"] for t in other.get("tokens/").json()["items"]] == [False, False]
