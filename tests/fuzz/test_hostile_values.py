"""Hostile values in every JSON body, page token and ETag: never a 5xx, and a refusal changes nothing.

Schemathesis (test_openapi_fuzz.py) writes JSON with Python's encoder, so it
never sends what broke the service from outside: NaN and ±Infinity (Python
clients send them), numbers past a float or a database integer, lone UTF-16
surrogates, nesting at the parser's limit. Here Hypothesis takes a body each
endpoint accepts, puts one such value anywhere in it (or adds it under a
hostile key), and sends it as raw text. Every answer must be:

* below 500; a 4xx is ``application/problem+json`` with a one-line detail;
* harmless: after a 4xx, the experiments and jobs are exactly as before;
* storable: whatever was accepted still reads back (lists and the job
  itself), and no search hands out a non-finite hyperparameter.

Page tokens and ``If-Match`` ETags are forged from integers of any size:
400 for a token no list can hold, 412 for an ETag no job has.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Api, exp_path

EXAMPLES = 40
SLOW_EXAMPLES = 200

# Raw JSON text: what json.dumps would refuse, rewrite or never produce.
NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e308", "-1e308", "1.7976931348623157e308",
    "5e-324", "-0.0", "0", "-1", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1" + "0" * 400,
    "9" * 4301, "-" + "9" * 5000, "1e-999",
]  # fmt: skip
STRINGS = [
    '"\\udcff"', '"\\ud800"', '"x\\udfffy"', '"\\ud83d\\ude00"', '"\\u0000"', '"a\\u0000b"', '""', '"\\ufffe"',
    '"' + "x" * 100_000 + '"', '"RUNNING"', '"DONE"', '"*"', '"../../etc/passwd"', '"%00"',
]  # fmt: skip
SHAPES = [
    "null", "true", "[]", "{}", "[" + ",".join(["1"] * 10_000) + "]",
    *("[" * n + "1" + "]" * n for n in (99, 100, 101, 950, 5000)),
    *('{"a":' * n + "1" + "}" * n for n in (99, 101, 950)),
]  # fmt: skip
HOSTILE = NUMBERS + STRINGS + SHAPES
KEYS = ['"\\udcff"', '"\\u0000"', '""', '"' + "k" * 10_000 + '"', '"__proto__"', '"constructor"']

# A body each endpoint accepts (``{new}`` names a fresh experiment, jobs are QUEUED, reports go to a RUNNING job).
RANDOM = {
    "x": {"uniform": {"low": 0, "high": 1}},
    "n": {"normal": {"mean": 0, "std": 1}},
    "c": {"choice": {"values": [1, "a"]}},
    "k": {"const": 3},
    "i": {"integer": {"low": 1, "high": 9}},
}
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "experiments/{new}/"): {
        "status": "RUNNING",
        "scheduler": {"RandomSearch": RANDOM},
        "maxRetries": 1,
        "maxRunTime": 60,
        "maxJobs": 10,
    },
    ("POST", "experiments/fuzzed/jobs/"): {"hyperparameters": {"x": 1.5}, "results": {"loss": 0.5}},
    ("PUT", "experiments/fuzzed/jobs/{job}/"): {"status": "DONE", "results": {"loss": 0.5}},
    ("POST", "experiments/random/nextjob/"): {"worker": "w1", "heartbeat": 60, "wait": 0},
    ("POST", "experiments/fuzzed/jobs/{running}/reports/"): {"step": 1, "metrics": {"loss": 0.5}},
    ("PUT", "dashboard/api/experiments/fuzzed/status/"): {"status": "RUNNING"},
    ("POST", "token/"): {"email": "nobody@example.com", "token": "not-a-token"},
}
# Argon2 on purpose (slow), and their refusals counted for throttling: a few cases only.
LOGINS: dict[tuple[str, str], Any] = {
    ("POST", "passauth/"): {"email": "nobody@example.com", "token": "not-a-password"},
    ("POST", "dashboard/api/session/"): {"email": "nobody@example.com", "password": "not-a-password"},
}


def _places(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``body`` a value sits (``()`` is the whole body)."""
    yield path
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _places(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _places(value, (*path, index))


def _text(body: Any, place: tuple[Any, ...], raw: str, *, as_key: bool) -> str:
    """``body`` as JSON text with ``raw`` at ``place`` (or, ``as_key``, a new member keyed ``raw`` there)."""
    if not place and not as_key:
        return raw
    if not place:  # a new member of the body itself
        inner = json.dumps(body)[1:-1]
        return "{" + raw + ":1" + ("," + inner if inner else "") + "}"
    head, rest = place[0], place[1:]
    if isinstance(body, dict):
        parts = [
            json.dumps(key) + ":" + (_text(value, rest, raw, as_key=as_key) if key == head else json.dumps(value))
            for key, value in body.items()
        ]
        return "{" + ",".join(parts) + "}"
    parts = [_text(value, rest, raw, as_key=as_key) if i == head else json.dumps(value) for i, value in enumerate(body)]
    return "[" + ",".join(parts) + "]"


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


class World:
    """The experiments the fuzzer aims at, and what they hold."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.new = 0
        api.create_experiment("fuzzed")
        api.create_experiment("random", {"RandomSearch": RANDOM})

    def names(self) -> dict[str, str]:
        """Values of the placeholders of :data:`BODIES`: a fresh experiment, a QUEUED and a RUNNING job."""
        self.new += 1
        job = self.api.add_job("fuzzed", hyperparameters={"x": 1}).json()["id"]
        running = self.api.add_job("fuzzed", hyperparameters={"x": 2}, status="RUNNING").json()["id"]
        return {"new": f"new-{self.new}", "job": job, "running": running}

    def snapshot(self) -> Any:
        """Everything a user could read back: experiments, jobs, reports."""
        listed = self.api.http.get("experiments/", params={"limit": 5000})
        assert listed.status_code == 200, listed.text
        state: dict[str, Any] = {"experiments": listed.json()["items"]}
        for name in ("fuzzed", "random"):
            state[name] = self.api.all_jobs(name)
            reports = self.api.http.get(exp_path(name) + "reports/", params={"limit": 5000})
            assert reports.status_code == 200, reports.text
            state[name + " reports"] = reports.json()["items"]
        return state


def _check_answer(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:500])
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json", (what, answer.headers)
        detail = answer.json()["detail"]
        assert detail, what
        assert "\n" not in detail, (what, detail)
        assert len(detail) < 600, (what, detail)


@pytest.fixture
def world(service: Any) -> Iterator[World]:
    """An authenticated client of the test's own user, with the experiments aimed at."""
    api = Api(service.url, service.user)
    yield World(api)
    api.close()


def _fuzz_bodies(world: World, bodies: dict[tuple[str, str], Any], examples: int) -> None:
    operations = sorted(bodies)
    derandomize = not os.environ.get("SCHEDY_FUZZ_RANDOM")

    @given(
        operation=st.sampled_from(operations),
        choice=st.data(),
        raw=st.sampled_from(HOSTILE),
        key=st.sampled_from(KEYS),
        as_key=st.booleans(),
    )
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    def run(operation: tuple[str, str], choice: st.DataObject, raw: str, key: str, as_key: bool) -> None:
        method, template = operation
        body = bodies[operation]
        places = [p for p in _places(body) if not as_key or isinstance(_at(body, p), dict)]
        place = choice.draw(st.sampled_from(places))
        text = _text(body, place, key if as_key else raw, as_key=as_key)
        names = world.names()
        path = template.format(**names)
        before = world.snapshot()
        answer = world.api.request(method, path, text.encode())
        what = f"{method} {template} {text[:200]!r}"
        _check_answer(answer, what)
        after = world.snapshot()
        if answer.status_code >= 400:
            assert after == before, ("a refused request changed something", what)
            if "{new}" in template:
                assert world.api.http.get(path).status_code == 404, what
            return
        # Accepted: it reads back, and no search hands out a value a training script cannot use.
        if "{new}" in template and answer.status_code in (200, 201):
            claimed = world.api.request("POST", path + "nextjob/", {})
            _check_answer(claimed, what + " then nextjob/")
            if claimed.status_code == 200:
                assert _finite(claimed.json()["hyperparameters"]), (what, claimed.text[:300])
            world.api.http.delete(path)
        for job in after["fuzzed"] + after["random"]:
            assert _finite(job["hyperparameters"]), (what, job)

    run()


def _at(body: Any, place: tuple[Any, ...]) -> Any:
    for step in place:
        body = body[step]
    return body


def test_hostile_values_in_bodies_are_refused_cleanly_or_stored_safely(world: World) -> None:
    _fuzz_bodies(world, BODIES, EXAMPLES)


def test_hostile_values_in_logins_are_refused_cleanly(world: World) -> None:
    _fuzz_bodies(world, LOGINS, max(6, EXAMPLES // 5))


@pytest.mark.slow
def test_many_hostile_values_in_bodies_are_refused_cleanly_or_stored_safely(world: World) -> None:
    _fuzz_bodies(world, BODIES, SLOW_EXAMPLES)


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


LISTS = ["experiments/", "experiments/fuzzed/jobs/", "experiments/fuzzed/events/", "experiments/fuzzed/reports/"]
HUGE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=2**64).map(lambda k: k | (1 << 31)),  # past a 32-bit key
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
)


def test_forged_page_tokens_and_etags_are_400_and_412(world: World) -> None:
    api = world.api
    job = api.add_job("fuzzed", hyperparameters={"x": 1})
    job_path = exp_path("fuzzed") + f"jobs/{job.json()['id']}/"
    current = job.headers["etag"]
    derandomize = not os.environ.get("SCHEDY_FUZZ_RANDOM")

    @given(key=HUGE, version=HUGE, path=st.sampled_from(LISTS), hex_pk=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    def run(key: int, version: int, path: str, hex_pk: bool) -> None:
        listed = api.http.get(path, params={"start": _token(f"k{key}")})
        _check_answer(listed, f"GET {path} k{key}")
        assert listed.status_code in (200, 400), listed.text
        if listed.status_code == 200:
            assert 0 <= key < 2**63, key
        pk = format(key, "x") if hex_pk and key >= 0 else str(key)
        tag = f'"{pk}-{version}"'
        if tag == current:
            return
        for method, body in (("PUT", {"status": "DONE"}), ("DELETE", None)):
            answer = api.request(method, job_path, body, headers={"If-Match": tag})
            _check_answer(answer, f"{method} If-Match {tag}")
            assert answer.status_code == 412, (tag, answer.text)
        assert api.http.get(job_path).headers["etag"] == current

    run()
