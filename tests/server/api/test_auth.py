"""Authentication: token/, passauth/, resettoken/ and session tokens."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from schedy.server.store import Store, installation


def _login(url: str, path: str, email: str, token: str) -> httpx.Response:
    return httpx.post(url + path, json={"email": email, "token": token})


def test_api_token_gives_a_session_token_that_opens_the_api(service):
    answer = _login(service.url, "token/", service.email, service.api_token)
    assert answer.status_code == 200
    body = answer.json()
    assert body["expiresAt"] > time.time() + 60
    listed = httpx.get(service.url + "experiments/", headers={"Authorization": f"Bearer {body['token']}"})
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "next": None}


def test_password_gives_a_session_token(service):
    answer = _login(service.url, "passauth/", service.email, service.password)
    assert answer.status_code == 200
    assert answer.json()["token"]


def test_email_is_case_insensitive(service):
    assert _login(service.url, "token/", service.email.upper(), service.api_token).status_code == 200


@pytest.mark.parametrize(
    ("path", "which"),
    [("token/", "token"), ("token/", "email"), ("passauth/", "token"), ("passauth/", "email")],
)
def test_wrong_credentials_are_forbidden_with_a_readable_reason(service, path, which):
    secret = service.api_token if path == "token/" else service.password
    email = service.email if which == "token" else "nobody@example.com"
    answer = _login(service.url, path, email, secret + "x" if which == "token" else secret)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Wrong email" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["token/", "passauth/", "dashboard/api/session/"])
def test_an_email_with_a_nul_character_is_just_wrong(service, path):
    secret_key = "password" if path.startswith("dashboard") else "token"
    answer = httpx.post(service.url + path, json={"email": "a\u0000@example.com", secret_key: "x"})
    assert answer.status_code == 403
    assert "Wrong email" in answer.json()["detail"]


def test_an_api_token_is_not_a_password(service):
    assert _login(service.url, "passauth/", service.email, service.api_token).status_code == 403
    assert _login(service.url, "token/", service.email, service.password).status_code == 403


def test_another_users_token_does_not_log_in_as_me(service):
    other = service.new_user()
    assert _login(service.url, "token/", service.email, other.api_token).status_code == 403


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"email": "a@b.c"}', b'{"email": 1, "token": "x"}', b'{"email": "a", "token": null}'],
)
def test_malformed_login_bodies_get_a_4xx(service, body):
    answer = httpx.post(service.url + "token/", content=body)
    assert answer.status_code in (400, 422)
    assert answer.json()["detail"]


def test_resettoken_answers_a_working_client_configuration(service, api):
    answer = api.http.post("resettoken/")
    assert answer.status_code == 200
    config = answer.json()
    assert config["root"] == service.url
    assert config["email"] == service.email
    assert config["token_type"] == "api_token"
    assert config["token"] != service.api_token
    assert _login(service.url, "token/", config["email"], config["token"]).status_code == 200
    # Earlier tokens keep working: other machines' workers are not cut off.
    assert _login(service.url, "token/", service.email, service.api_token).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        "Bearer " + jwt.encode({"sub": "1", "exp": 9e9}, "forged-secret-" * 4, algorithm="HS256"),
    ],
)
def test_missing_or_forged_session_tokens_must_authenticate_again(service, header):
    headers = {} if header is None else {"Authorization": header}
    answer = httpx.get(service.url + "experiments/", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["detail"]


def test_expired_session_tokens_must_authenticate_again(service):
    store = Store(service.process.database_url, pool_size=1)
    with store.write() as conn:
        secret = installation.get_or_create(conn, "jwt_secret", lambda: "unused")
    store.dispose()
    expired = jwt.encode({"sub": "1", "iat": 1, "exp": int(time.time()) - 10}, secret, algorithm="HS256")
    answer = httpx.get(service.url + "experiments/", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
