"""Property tests of the two promises workers rely on, on both databases.

* ETags: an update with ``If-Match`` succeeds exactly when nobody changed the
  job since it was read, so concurrent read-modify-write loops never lose an
  update (and heartbeats never invalidate an ETag).
* Claims: ``nextjob`` hands each queued job to exactly one caller, oldest
  first, whatever the interleaving of adds, concurrent claims (our client's
  ``POST`` and the 0.1.0b6 client's ``GET`` + ``PUT RUNNING``), re-queues
  and finishes.

Hypothesis draws the scenarios; each example gets its own experiment. The
default run tries a few examples; the ``slow`` variants many more.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

QUICK, SLOW = 8, 200


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=examples == QUICK,  # the default run is the same every time
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _clients(api, n: int) -> list[httpx.Client]:
    """``n`` independent HTTP clients sharing the test user's session."""
    return [
        httpx.Client(base_url=str(api.http.base_url), headers=dict(api.http.headers), timeout=120) for _ in range(n)
    ]


def _new_experiment(api) -> str:
    return api.create_experiment(f"prop-{uuid.uuid4().hex[:12]}")


# -- ETags ----------------------------------------------------------------------------------------------------

ETAG_STEPS = st.lists(
    st.tuples(st.sampled_from(["read", "write", "heartbeat"]), st.integers(0, 2)), min_size=1, max_size=25
)


# Two workers read the job; the first writes; the second's write is stale (a heartbeat in
# between changes nothing). Hypothesis' few derandomized default examples may not draw one.
STALE_WRITE = [("read", 0), ("read", 1), ("write", 0), ("heartbeat", 0), ("write", 1)]


def _etag_protocol_matches_the_model(api, steps: list[tuple[str, int]]) -> int:
    """Play ``steps``, checking every answer against the model; return how many stale writes were refused."""
    exp = _new_experiment(api)
    created = api.request("POST", exp + "jobs/", {"status": "RUNNING", "results": {"v": 0}})
    assert created.status_code == 201
    job = f"{exp}jobs/{created.json()['id']}/"
    version = 0  # successful writes so far: the model of the job
    value = 0
    current = created.headers["etag"]  # the job's ETag now
    refused = 0
    seen: dict[int, int] = {}  # client → the version its ETag names
    etags: dict[int, str] = {}
    for n, (action, client) in enumerate(steps, start=1):
        if action == "read":
            answer = api.http.get(job)
            assert answer.status_code == 200
            assert answer.json()["results"] == {"v": value}
            etags[client], seen[client] = answer.headers["etag"], version
            assert answer.headers["etag"] == current
        elif action == "heartbeat":
            assert api.http.post(job + "heartbeat/").status_code == 200
        elif client in etags:
            answer = api.request(
                "PUT", job, {"status": "RUNNING", "results": {"v": n}}, headers={"If-Match": etags[client]}
            )
            if seen[client] == version:
                assert answer.status_code == 200, answer.text
                version, value = version + 1, n
                etags[client], seen[client] = answer.headers["etag"], version
                current = answer.headers["etag"]
            else:
                assert answer.status_code == 412, f"a stale ETag was accepted: {answer.text}"
                refused += 1
                after = api.http.get(job)  # the refused write changed nothing
                assert (after.json()["results"], after.headers["etag"]) == ({"v": value}, current)
    assert api.http.get(job).json()["results"] == {"v": value}
    return refused


def _concurrent_increments_are_never_lost(api, clients: int, increments: int) -> None:
    exp = _new_experiment(api)
    created = api.request("POST", exp + "jobs/", {"status": "RUNNING", "results": {"count": 0}})
    job = f"{exp}jobs/{created.json()['id']}/"
    start = threading.Barrier(clients)

    def increment(http: httpx.Client) -> int:
        start.wait()
        applied = 0
        for _ in range(increments * 200):  # bounded: every conflict means someone else succeeded
            if applied == increments:
                return applied
            answer = http.get(job)
            count = answer.json()["results"]["count"]
            put = http.put(
                job,
                json={"status": "RUNNING", "results": {"count": count + 1}},
                headers={"If-Match": answer.headers["etag"]},
            )
            assert put.status_code in (200, 412), put.text
            applied += put.status_code == 200
        return applied

    https = _clients(api, clients)
    try:
        with ThreadPoolExecutor(clients) as pool:
            applied = list(pool.map(increment, https))
    finally:
        for http in https:
            http.close()
    assert applied == [increments] * clients
    assert api.http.get(job).json()["results"] == {"count": clients * increments}


@pytest.mark.parametrize("examples", [QUICK, pytest.param(SLOW, marks=pytest.mark.slow)])
def test_if_match_succeeds_exactly_when_nobody_wrote_since_the_read(api, examples):
    @_settings(examples)
    @given(steps=ETAG_STEPS)
    @example(steps=STALE_WRITE)
    def check(steps: list[tuple[str, int]]) -> None:
        _etag_protocol_matches_the_model(api, steps)

    check()


def test_a_stale_write_is_refused_with_412_and_leaves_the_job_unchanged(api):
    assert _etag_protocol_matches_the_model(api, STALE_WRITE) == 1


@pytest.mark.parametrize("examples", [QUICK, pytest.param(SLOW, marks=pytest.mark.slow)])
def test_concurrent_read_modify_write_loops_never_lose_an_update(api, examples):
    @_settings(max(2, examples // 2))
    @given(clients=st.integers(2, 6), increments=st.integers(1, 4))
    def check(clients: int, increments: int) -> None:
        _concurrent_increments_are_never_lost(api, clients, increments)

    check()


# -- Claims ---------------------------------------------------------------------------------------------------

_CLAIM_STEP = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 5)),
    st.tuples(st.just("claim"), st.lists(st.booleans(), min_size=1, max_size=8)),  # True: the 0.1.0b6 flow
    st.tuples(st.just("requeue"), st.integers(0, 100)),
    st.tuples(st.just("finish"), st.integers(0, 100)),
)
# Always some jobs first, so that even the first batch of claims competes for them.
CLAIM_STEPS = st.builds(
    lambda first, rest: [first, *rest],
    st.tuples(st.just("add"), st.integers(1, 8)),
    st.lists(_CLAIM_STEP, min_size=1, max_size=12),
)


def _claim(http: httpx.Client, exp: str, old_client: bool) -> tuple[str, str] | None:
    """One worker's claim: ``(job id, ETag)``, or ``None`` for 204."""
    if old_client:
        answer = http.get(exp + "nextjob/")
        if answer.status_code == 204:
            return None
        assert answer.status_code == 200, answer.text
        job = answer.json()
        # The 0.1.0b6 client confirms with PUT RUNNING + If-Match; it must succeed.
        answer = http.put(
            f"{exp}jobs/{job['id']}/",
            json={"status": "RUNNING", "hyperparameters": job["hyperparameters"]},
            headers={"If-Match": answer.headers["etag"]},
        )
    else:
        answer = http.post(exp + "nextjob/", json={"worker": "w"})
        if answer.status_code == 204:
            return None
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "RUNNING"
    return answer.json()["id"], answer.headers["etag"]


def _claims_match_the_queue_model(api, steps: list[tuple[str, Any]], https: list[httpx.Client]) -> None:
    exp = _new_experiment(api)
    order: dict[str, int] = {}  # job id → creation order (the queue order)
    queued: set[str] = set()
    running: dict[str, str] = {}  # job id → ETag
    for action, arg in steps:
        if action == "add":
            for _ in range(arg):
                answer = api.add_job(exp_name(exp), hyperparameters={"n": len(order)})
                assert answer.status_code == 201
                order[answer.json()["id"]] = len(order)
                queued.add(answer.json()["id"])
        elif action == "claim":
            with ThreadPoolExecutor(len(arg)) as pool:
                got = list(pool.map(_claim, https[: len(arg)], [exp] * len(arg), arg))
            handed = [g[0] for g in got if g is not None]
            assert len(handed) == len(set(handed)), f"one job handed to two workers: {handed}"
            expected = sorted(queued, key=order.__getitem__)[: len(arg)]
            assert sorted(handed, key=order.__getitem__) == expected  # the oldest, and only queued ones
            for job_id, tag in filter(None, got):
                queued.discard(job_id)
                running[job_id] = tag
        elif running:
            job_id = sorted(running, key=order.__getitem__)[arg % len(running)]
            status = "QUEUED" if action == "requeue" else "DONE"
            answer = api.request(
                "PUT", f"{exp}jobs/{job_id}/", {"status": status}, headers={"If-Match": running.pop(job_id)}
            )
            assert answer.status_code == 200, answer.text
            if status == "QUEUED":
                queued.add(job_id)
    statuses = {job["id"]: job["status"] for job in api.all_jobs(exp_name(exp))}
    assert {j for j, s in statuses.items() if s == "QUEUED"} == queued
    assert {j for j, s in statuses.items() if s == "RUNNING"} == set(running)


def exp_name(path: str) -> str:
    """The experiment name of an ``experiments/NAME/`` path (our names need no decoding)."""
    return path.split("/")[1]


@pytest.mark.parametrize("examples", [QUICK, pytest.param(SLOW, marks=pytest.mark.slow)])
def test_concurrent_claims_hand_each_queued_job_to_exactly_one_worker_oldest_first(api, examples):
    https = _clients(api, 8)
    try:

        @_settings(examples)
        @given(steps=CLAIM_STEPS)
        def check(steps: list[tuple[str, Any]]) -> None:
            _claims_match_the_queue_model(api, steps, https)

        check()
    finally:
        for http in https:
            http.close()

