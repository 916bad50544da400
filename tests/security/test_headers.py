"""Every answer, of every endpoint and every kind of error, tells browsers not to sniff and not to refer.

``X-Content-Type-Options: nosniff``: an answer holding a user's text (a job's
results, an artifact) is never run as a script or styled as CSS because a
browser guessed its type. ``Referrer-Policy: no-referrer``: links followed from
the dashboard do not carry its URLs (experiment names) to other sites. The
endpoints come from ``/openapi.json``; the fast path (api/hotpath.py) answers
nextjob and job updates without the framework's middleware, so its answers
and refusals are checked one by one.
"""

from __future__ import annotations

import json
import re
from contextlib import closing
from urllib.parse import quote

import httpx

from tests.security.conftest import login
from tests.security.test_matrix import BODIES

EXPECTED = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def _operations(url: str) -> list[tuple[str, str, bool]]:
    document = httpx.get(url + "openapi.json").json()
    return [
        (method.upper(), path, "requestBody" in operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _fill(template: str) -> str:
    values = {"name": "headers", "job_id": "job-1", "token_id": "1", "artifact": "model.pt"}
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), template).lstrip("/")


def _assert_secured(answer: httpx.Response, what: str) -> None:
    for name, value in EXPECTED.items():
        assert answer.headers.get(name) == value, (what, answer.status_code, dict(answer.headers))


def test_every_operation_answers_with_the_headers_signed_in_or_not(service):
    operations = _operations(service.url)
    assert len(operations) >= 30, operations
    with (
        closing(httpx.Client(base_url=service.url, timeout=60)) as anonymous,
        closing(login(service.url, service.email, service.api_token)) as user,
    ):
        user.put("experiments/headers/", content=json.dumps({"scheduler": {"Manual": None}}))
        user.put("experiments/headers/jobs/job-1/", content=json.dumps({"status": "QUEUED"}))
        statuses = set()
        for client, who in ((anonymous, "anonymous"), (user, "user")):
            for method, template, has_body in operations:
                if (method, template) == ("DELETE", "/experiments/{name}/") and who == "user":
                    continue  # keep the experiment for the rest
                body = BODIES.get((method, template), {} if has_body else None)
                content = None if body is None else json.dumps(body)
                answer = client.request(method, _fill(template), content=content)
                statuses.add(answer.status_code)
                _assert_secured(answer, f"{who}: {method} {template}")
    assert {200, 401, 404} <= statuses, statuses  # answers, refusals and misses were all checked


def test_errors_of_every_kind_and_the_fast_path_answer_with_the_headers(service):
    big = b"{" + b" " * (2 << 20) + b"}"
    with (
        closing(httpx.Client(base_url=service.url, timeout=60)) as anonymous,
        closing(login(service.url, service.email, service.api_token)) as user,
    ):
        user.put("experiments/fast/", content=json.dumps({"scheduler": {"Manual": None}}))
        job = user.post("experiments/fast/jobs/", content=json.dumps({"hyperparameters": {"x": 1}})).json()
        forged = {"Authorization": "Bearer not.a.session"}
        answers = {
            "no such path": (anonymous.get("no/such/path/"), 404),
            "method not allowed": (anonymous.delete("ping/"), 405),
            "body too large": (user.put("experiments/big/", content=big), 413),
            "not JSON": (user.put("experiments/bad/", content=b"{nope"), 400),
            "lone surrogate in a login": (anonymous.post("token/", content=b'{"email": "\\udcff", "token": "x"}'), 400),
            "fast path: claim": (user.post("experiments/fast/nextjob/", content=b"{}"), 200),
            "fast path: nothing to claim": (user.post("experiments/fast/nextjob/", content=b"{}"), 204),
            "fast path: forged session": (
                anonymous.post("experiments/fast/nextjob/", content=b"{}", headers=forged),
                401,
            ),
            "fast path: update": (
                user.put(f"experiments/fast/jobs/{job['id']}/", content=json.dumps({"status": "DONE"})),
                200,
            ),
            "fast path: stale ETag": (
                user.put(
                    f"experiments/fast/jobs/{job['id']}/",
                    content=json.dumps({"status": "DONE"}),
                    headers={"If-Match": job["etag"]},
                ),
                412,
            ),
            "fast path: bad body": (user.put(f"experiments/fast/jobs/{job['id']}/", content=b"[[["), 400),
        }
        for what, (answer, status) in answers.items():
            assert answer.status_code == status, (what, answer.text[:200])
            _assert_secured(answer, what)
