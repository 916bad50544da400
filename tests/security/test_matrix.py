"""Every authenticated endpoint × every kind of bad credential: refused, and never the victim's data.

The endpoints come from the service's own OpenAPI document, so an endpoint
added later is covered without touching this file. docs/protocol.md: 401 means
"authenticate again" (no, expired or invalid session token); another user's
experiment or job is simply not found (404).
"""

from __future__ import annotations

import base64
import json
import re
import time
from contextlib import closing
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from schedy.server.service.auth import LIVENESS_TTL
from tests.security.conftest import Victim, jwt_secret, login, revoke_all_tokens

# A body that the endpoint would accept from its owner, so that a refusal is
# about the credentials and not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/experiments/{name}/"): {"status": "DONE", "scheduler": {"Manual": None}},
    ("POST", "/experiments/{name}/jobs/"): {"hyperparameters": {}, "results": {"r": "intruder"}},
    ("PUT", "/experiments/{name}/jobs/{job_id}/"): {"status": "DONE", "results": {"r": "intruder"}},
    ("POST", "/experiments/{name}/nextjob/"): {"worker": "intruder"},
    ("POST", "/experiments/{name}/jobs/{job_id}/reports/"): {"step": 1, "metrics": {"r": 1.0}},
    ("PUT", "/dashboard/api/experiments/{name}/status/"): {"status": "DONE"},
}
# With another user's valid session these act on that user's own namespace
# (docs/protocol.md: experiments live in a per-user namespace): they may succeed, and
# must leave the victim's experiment as it was.
OWN_NAMESPACE = {("PUT", "/experiments/{name}/"): 201, ("DELETE", "/experiments/{name}/"): 204}


def _secured_operations(url: str) -> list[tuple[str, str, bool]]:
    """``(method, path template, has a body)`` of every operation that requires a session."""
    document = httpx.get(url + "openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                found.append((method.upper(), path, "requestBody" in operation))
    # Those acting on the caller's own namespace last: once the intruder has
    # an experiment of the victim's name, its jobs/ would be the intruder's.
    return sorted(found, key=lambda op: ((op[0], op[1]) in OWN_NAMESPACE, op))


def _fill(template: str, victim: Victim) -> str:
    values = {
        "name": victim.experiment,
        "job_id": victim.job_id,
        "token_id": str(victim.token_id),
        "artifact": "model.pt",
    }

    def value(match: re.Match[str]) -> str:
        return quote(values[match.group(1)], safe="")

    return re.sub(r"\{(\w+)\}", value, template).lstrip("/")


def _send(client: httpx.Client, method: str, template: str, has_body: bool, victim: Victim) -> httpx.Response:
    body = BODIES.get((method, template), {} if has_body else None)
    content = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if content is not None else {}
    return client.request(method, _fill(template, victim), content=content, headers=headers)


def _assert_refused_without_data(answer: httpx.Response, victim: Victim, what: str) -> None:
    assert answer.status_code == 401, f"{what}: {answer.status_code} {answer.text}"
    assert answer.headers["www-authenticate"].startswith("Bearer"), what
    assert answer.headers["content-type"] == "application/problem+json", what
    assert answer.json()["detail"], what
    assert victim.marker not in answer.text, what


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_session_tokens(service, victim: Victim) -> dict[str, str]:
    """Session tokens that name the victim but must not open anything."""
    now = int(time.time())
    claims = {"sub": str(victim.user_id), "tid": victim.token_id, "iat": now, "exp": now + 3600}
    real_secret = jwt_secret(service.process.database_url)
    genuine = victim.http.headers["Authorization"].removeprefix("Bearer ")
    header, _, signature = genuine.split(".")
    return {
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 10}, real_secret, algorithm="HS256"),
        "forged, another secret": jwt.encode(claims, "not the installation's secret " * 2, algorithm="HS256"),
        "forged, alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "forged, genuine signature on another payload": f"{header}.{_b64({**claims, 'sub': '1'})}.{signature}",
    }


def test_every_endpoint_refuses_missing_expired_and_forged_session_tokens(service, victim):
    operations = _secured_operations(service.url)
    assert len(operations) >= 15, operations  # the API's experiments, jobs, nextjob, tokens… are all there
    credentials: dict[str, dict[str, str]] = {"no token": {}}
    for kind, token in _bad_session_tokens(service, victim).items():
        credentials[kind] = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=service.url, timeout=60) as client:
        for kind, headers in credentials.items():
            client.headers.clear()
            client.headers.update(headers)
            for method, template, has_body in operations:
                answer = _send(client, method, template, has_body, victim)
                _assert_refused_without_data(answer, victim, f"{kind}: {method} {template}")
    before = victim.snapshot()
    assert victim.http.get("experiments/").status_code == 200  # the victim's own session still works
    assert before[1][0]["results"] == {"r": victim.marker}


def test_another_users_session_finds_nothing_of_the_victim_and_changes_nothing(service, victim):
    before = victim.snapshot()
    intruder = service.new_user()
    operations = _secured_operations(service.url)
    with closing(login(service.url, intruder.email, intruder.api_token)) as client:
        for method, template, has_body in operations:
            answer = _send(client, method, template, has_body, victim)
            what = f"{method} {template}: {answer.status_code} {answer.text}"
            assert victim.marker not in answer.text.replace(victim.experiment, ""), what
            assert victim.user.email not in answer.text, what
            if (method, template) in OWN_NAMESPACE:
                assert answer.status_code in (OWN_NAMESPACE[(method, template)], 200), what
            elif "{" in template:
                assert answer.status_code == 404, what
            else:
                assert answer.status_code in (200, 201, 204), what
        # What the intruder sees as "theirs" holds nothing of the victim's.
        mine = client.get("experiments/").json()["items"]
        assert all(item["scheduler"] == {"Manual": None} for item in mine)
        assert client.get(f"experiments/{quote(victim.experiment, safe='')}/jobs/").json()["items"] == []
    assert victim.snapshot() == before
    with closing(login(service.url, victim.user.email, victim.user.api_token)) as again:
        assert again.get("experiments/").status_code == 200


def test_a_revoked_api_tokens_sessions_stop_working_everywhere_within_the_liveness_window(service, victim):
    holder = service.new_user()
    with closing(login(service.url, holder.email, holder.api_token)) as client:
        assert client.get("experiments/").status_code == 200  # its liveness is now cached by the service
        revoke_all_tokens(service.process.database_url, holder.email)
        revoked_at = time.monotonic()
        # auth.LIVENESS_TTL: a session's token is re-checked at most that long after the last check.
        deadline = revoked_at + LIVENESS_TTL + 10
        while (answer := client.get("experiments/")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        took = time.monotonic() - revoked_at
        assert answer.status_code == 401, answer.text
        assert took < LIVENESS_TTL + 10
        assert "revoked" in answer.json()["detail"]
        for method, template, has_body in _secured_operations(service.url):
            answer = _send(client, method, template, has_body, victim)
            _assert_refused_without_data(answer, victim, f"revoked: {method} {template}")
    # And the token itself no longer logs in (403: the credentials are wrong).
    relogin = httpx.post(service.url + "token/", json={"email": holder.email, "token": holder.api_token})
    assert relogin.status_code == 403


@pytest.mark.parametrize("path", ["token/", "passauth/"])
def test_logins_answer_no_data_for_wrong_credentials(service, victim, path):
    answer = httpx.post(service.url + path, json={"email": victim.user.email, "token": "guess"})
    assert answer.status_code == 403
    assert "token" not in answer.json()
    assert victim.marker not in answer.text
