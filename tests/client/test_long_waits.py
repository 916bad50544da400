"""Waiting for a job longer than the service's cap on one long poll (60 s), against the real service.

The service refuses a ``nextjob`` whose ``wait`` is past its cap (422); the client spends a longer wait in
successive polls. The tests that look at the polls lower the client's cap in this process (the service keeps
its own), so that a wait of several polls takes a second, not minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import schedy
from schedy import _experiments
from schedy.errors import NoJobError


@pytest.fixture
def other(service: Any) -> Iterator[schedy.SchedyDB]:
    """The same user through a second client: the one that queues work while a worker waits."""
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as database:
        yield database


class Polls:
    """The ``wait`` of each ``nextjob`` request the client sends, and an event set once one answered 204."""

    def __init__(self, db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waits: list[float | None] = []
        self.answered_empty = threading.Event()
        transport = db._transport
        send = transport.request

        def request(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
            if not path.endswith("nextjob/"):
                return send(method, path, body, **kwargs)
            self.waits.append(body.get("wait") if isinstance(body, dict) else None)
            response = send(method, path, body, **kwargs)
            if response.status == 204:
                self.answered_empty.set()
            return response

        monkeypatch.setattr(transport, "request", request)


def _queue_after(
    event: threading.Event | None, exp_name: str, db: schedy.SchedyDB, delay: float = 0.0
) -> threading.Thread:
    """Queue one job from another client once ``event`` is set (or after ``delay``); the thread doing it."""

    def add() -> None:
        if event is not None:
            assert event.wait(120)
        time.sleep(delay)
        db.get_experiment(exp_name).add_job(hyperparameters={"lr": 0.1})

    thread = threading.Thread(target=add, daemon=True)
    thread.start()
    return thread


def test_a_wait_past_the_services_cap_is_not_refused(db, other):
    # docs/artifacts.md's preemptible workers wait 300 s: the service's cap is 60 s per request.
    exp = db.add_experiment(schedy.ManualSearch("long-wait"))
    adder = _queue_after(None, "long-wait", other, delay=0.5)
    job = exp.next_job(wait=300)
    adder.join()
    assert job.status == schedy.Job.RUNNING
    assert job.hyperparameters == {"lr": 0.1}


def test_a_long_wait_goes_on_in_further_polls_until_a_job_comes(db, other, monkeypatch):
    monkeypatch.setattr(_experiments, "MAX_WAIT_PER_REQUEST", 0.5)
    polls = Polls(db, monkeypatch)
    exp = db.add_experiment(schedy.ManualSearch("sliced-wait"))
    adder = _queue_after(polls.answered_empty, "sliced-wait", other)  # queued after a first poll came back empty
    job = exp.next_job(wait=300)
    adder.join()
    assert job.hyperparameters == {"lr": 0.1}
    assert len(polls.waits) >= 2
    assert all(wait is not None and 0 < wait <= 0.5 for wait in polls.waits)


def test_a_long_wait_with_no_job_coming_lasts_the_whole_wait(db, monkeypatch):
    monkeypatch.setattr(_experiments, "MAX_WAIT_PER_REQUEST", 0.5)
    polls = Polls(db, monkeypatch)
    exp = db.add_experiment(schedy.ManualSearch("empty-wait"))
    start = time.monotonic()
    with pytest.raises(NoJobError):
        exp.next_job(wait=1.6)
    assert time.monotonic() - start >= 1.6  # not given up after the first poll
    assert all(wait is not None and wait <= 0.5 for wait in polls.waits)


@pytest.mark.timeout(120)  # a worker that went on polling a DONE experiment would wait the hour
def test_a_long_wait_ends_when_the_experiment_is_done(db, other, monkeypatch):
    monkeypatch.setattr(_experiments, "MAX_WAIT_PER_REQUEST", 0.5)
    polls = Polls(db, monkeypatch)
    exp = db.add_experiment(schedy.ManualSearch("paused-wait"))

    def pause() -> None:
        assert polls.answered_empty.wait(120)
        paused = other.get_experiment("paused-wait")
        paused.status = paused.DONE
        paused.push_updates()

    pauser = threading.Thread(target=pause, daemon=True)
    pauser.start()
    with pytest.raises(NoJobError):
        exp.next_job(wait=3600)
    pauser.join()


def test_a_worker_loop_waits_past_the_services_cap(db, other):
    exp = db.add_experiment(schedy.ManualSearch("loop-wait"))
    adder = _queue_after(None, "loop-wait", other, delay=0.5)
    ran = []
    for job in exp.jobs(wait=300, max_jobs=1):
        with job:
            ran.append(job.hyperparameters)
            job.results["loss"] = 0.5
    adder.join()
    assert ran == [{"lr": 0.1}]
    assert [j.status for j in exp.all_jobs()] == [schedy.Job.DONE]
