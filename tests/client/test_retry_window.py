"""The transport's retries last a time window, however closely the service asks to be retried (a scripted stub).

A service that cannot reach its database answers 503 with ``Retry-After: 2``.
The transport honoured that spacing but still stopped after its ten
attempts: 18 s of retries instead of the documented minute, and a worker's
report raised in the middle of a PostgreSQL restart, crashing its job.
"""

from __future__ import annotations

import itertools
import time

import pytest

from schedy import errors
from schedy._config import ClientConfig
from schedy._transport import RetryPolicy, Transport
from tests.client.stub import Answer, Recorded, Stub

EXP = {"name": "E", "status": "RUNNING", "scheduler": {"Manual": None}}
UNAVAILABLE = {"title": "Service unavailable", "detail": "The service cannot reach its database right now."}


def _transport(url: str, policy: RetryPolicy) -> Transport:
    config = ClientConfig.from_mapping({"root": url, "email": "me@example.com", "token": "secret"}, "test")
    return Transport(config, timeout=5.0, retry=policy)


def _timed(answer: Answer, times: list[float]) -> object:
    def answering(_: Recorded) -> Answer:
        times.append(time.monotonic())
        return answer

    return answering


def test_the_default_window_is_about_a_minute() -> None:
    assert RetryPolicy().window() == pytest.approx(60.75)  # 0.25 + 0.5 + … + 8 + 4 × 15
    assert RetryPolicy().window(3) == pytest.approx(0.75)  # a request asking for 3 attempts (a heartbeat)
    assert RetryPolicy().window(1) == 0.0  # no retry


def test_a_503_with_a_short_retry_after_is_retried_at_that_spacing_for_the_whole_window(stub: Stub) -> None:
    # Window: 0.05 + 0.1 + 0.2 = 0.35 s; the service asks for a try every 0.05 s: about 7 tries, not 4.
    policy = RetryPolicy(attempts=4, backoff=0.05, max_backoff=1.0)
    times: list[float] = []
    stub.on("GET", "experiments/E/", _timed(Answer(503, UNAVAILABLE, {"Retry-After": "0.05"}), times))
    transport = _transport(stub.url, policy)
    started = time.monotonic()
    with pytest.raises(errors.ServerError, match="cannot reach its database") as info:
        transport.request("GET", "experiments/E/")
    took = time.monotonic() - started
    transport.close()
    assert info.value.code == 503
    assert len(times) > policy.attempts
    assert policy.window() - 0.05 <= took < 3.0
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(times))


def test_a_service_back_within_the_window_answers_after_more_tries_than_attempts(stub: Stub) -> None:
    busy = Answer(503, UNAVAILABLE, {"Retry-After": "0.05"})
    stub.on("GET", "experiments/E/", *([busy] * 6), Answer(200, EXP))
    transport = _transport(stub.url, RetryPolicy(attempts=4, backoff=0.05, max_backoff=1.0))
    assert transport.request("GET", "experiments/E/").json() == EXP
    transport.close()
    assert len(stub.calls("GET", "experiments/E/")) == 7


def test_a_retry_after_of_zero_is_spaced_by_the_backoff_not_hammered(stub: Stub) -> None:
    times: list[float] = []
    stub.on("GET", "experiments/E/", _timed(Answer(503, UNAVAILABLE, {"Retry-After": "0"}), times))
    transport = _transport(stub.url, RetryPolicy(attempts=4, backoff=0.05, max_backoff=1.0))
    with pytest.raises(errors.ServerError):
        transport.request("GET", "experiments/E/")
    transport.close()
    assert 4 <= len(times) <= 9
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(times))


def test_no_answer_at_all_is_retried_for_the_window_too(stub: Stub) -> None:
    """A service gone after answering once (connections refused): the backoff, until the window is over."""
    policy = RetryPolicy(attempts=2, backoff=0.2, max_backoff=0.2)  # window 0.2 s; each wait 0.1–0.2 s
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    transport = _transport(stub.url, policy)
    transport.request("GET", "experiments/E/")
    stub.close()
    transport.close()
    started = time.monotonic()
    with pytest.raises(errors.HTTPError, match="gave up after") as info:
        transport.request("GET", "experiments/E/")
    assert time.monotonic() - started >= 0.1
    assert info.value.code is None
    transport.close()


@pytest.mark.parametrize("status", [400, 404, 412, 429])
def test_a_refusal_is_raised_at_once_even_with_a_retry_after(stub: Stub, status: int) -> None:
    stub.on("GET", "experiments/E/", Answer(status, {"title": "No", "detail": "Nope."}, {"Retry-After": "0.05"}))
    transport = _transport(stub.url, RetryPolicy(attempts=4, backoff=0.05, max_backoff=1.0))
    started = time.monotonic()
    with pytest.raises(errors.HTTPError) as info:
        transport.request("GET", "experiments/E/")
    transport.close()
    assert info.value.code == status
    assert len(stub.calls("GET", "experiments/E/")) == 1
    assert time.monotonic() - started < 1.0
