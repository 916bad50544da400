"""What Job and Experiment send on the wire (headers, bodies), against a scripted stub."""

from __future__ import annotations

import _thread
import logging
import signal
import threading
import time
from typing import Any

import pytest

import schedy
from schedy import errors
from tests.client.stub import Answer, Recorded, Stub, job_json

EXP = {"name": "E", "status": "RUNNING", "scheduler": {"Manual": None}}
JOB = "experiments/E/jobs/J1/"


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


def echo_job(etag: str = '"2"') -> Any:
    """Answer a PUT with the job it carries, as the service does."""

    def answer(request: Recorded) -> Answer:
        return Answer(200, {"id": "J1", "experiment": "E", **request.json()}, {"ETag": etag})

    return answer


@pytest.fixture
def exp(stub: Stub, stub_db: schedy.SchedyDB) -> schedy.Experiment:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    # What the worker loop asks after finding no job: a manual search with a job RUNNING elsewhere goes on.
    stub.on("GET", "experiments/E/?counts=true", Answer(200, {**EXP, "jobCounts": {"RUNNING": 1}}))
    return stub_db.get_experiment("E")


def test_safe_put_sends_if_match_of_the_etag(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job('"2"'))
    job = schedy.Job("J1", exp, {"x": 1}, status=schedy.Job.DONE, results={"loss": 0.5}, etag='"1"')
    job.put()
    (put,) = stub.calls("PUT", JOB)
    assert put.headers["if-match"] == '"1"'
    assert "if-none-match" not in put.headers
    assert put.json() == {"status": "DONE", "hyperparameters": {"x": 1}, "results": {"loss": 0.5}}
    assert job.etag == '"2"'


def test_safe_put_without_etag_only_creates(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, Answer(412, {"title": "Precondition Failed", "detail": "exists"}))
    job = schedy.Job("J1", exp, {"x": 1})
    with pytest.raises(errors.UnsafeUpdateError, match="no ETag"):
        job.put()
    (put,) = stub.calls("PUT", JOB)
    assert put.headers["if-none-match"] == "*"
    assert "if-match" not in put.headers


def test_unsafe_put_sends_no_condition(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job())
    schedy.Job("J1", exp, {"x": 1}, etag='"1"').put(safe=False)
    (put,) = stub.calls("PUT", JOB)
    assert "if-match" not in put.headers
    assert "if-none-match" not in put.headers


def test_a_put_refused_with_412_raises_unsafe_update_error(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, Answer(412, {"title": "Precondition Failed", "detail": "changed"}))
    job = schedy.Job("J1", exp, {"x": 1}, etag='"1"')
    with pytest.raises(errors.UnsafeUpdateError, match="changed by someone else"):
        job.put()


def test_a_retried_put_that_got_412_accepts_its_own_earlier_success(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, Answer(drop=True), Answer(412, {"title": "Precondition Failed", "detail": "changed"}))
    stub.on("GET", JOB, Answer(200, job_json(status="DONE", results={"loss": 1.0}), {"ETag": '"2"'}))
    job = schedy.Job("J1", exp, {"x": 1}, status="DONE", results={"loss": 1.0}, etag='"1"')
    job.put()  # the first PUT went through; its answer was lost
    assert job.etag == '"2"'


def test_a_retried_put_that_got_412_still_refuses_someone_elses_change(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, Answer(drop=True), Answer(412, {"title": "Precondition Failed", "detail": "changed"}))
    stub.on("GET", JOB, Answer(200, job_json(status="CRASHED"), {"ETag": '"3"'}))
    job = schedy.Job("J1", exp, {"x": 1}, status="DONE", etag='"1"')
    with pytest.raises(errors.UnsafeUpdateError):
        job.put()
    assert job.etag == '"1"'


@pytest.mark.parametrize(("ensure", "header"), [(True, "*"), (False, None)])
def test_delete_sends_if_match_star_when_ensured(
    stub: Stub, exp: schedy.Experiment, ensure: bool, header: str | None
) -> None:
    stub.on("DELETE", JOB, Answer(204))
    schedy.Job("J1", exp, {}).delete(ensure=ensure)
    (delete,) = stub.calls("DELETE", JOB)
    assert delete.headers.get("if-match") == header


def test_deleting_a_gone_job_raises_when_ensured(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("DELETE", JOB, Answer(412, {"title": "Precondition Failed", "detail": "gone"}))
    with pytest.raises(errors.UnsafeUpdateError, match="already deleted"):
        schedy.Job("J1", exp, {}).delete()


def test_add_experiment_creates_only_if_absent(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("PUT", "experiments/E/", Answer(201, EXP), Answer(412, {"title": "Precondition Failed", "detail": "x"}))
    stub_db.add_experiment(schedy.ManualSearch("E"))
    with pytest.raises(errors.ResourceExistsError, match="already exists"):
        stub_db.add_experiment(schedy.ManualSearch("E"))
    puts = stub.calls("PUT", "experiments/E/")
    assert [p.headers["if-none-match"] for p in puts] == ["*", "*"]
    assert puts[0].json() == {"status": "RUNNING", "scheduler": {"Manual": None}}


def test_next_job_is_one_post_with_the_options(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(200, job_json(), {"ETag": '"5"'}))
    job = exp.next_job(wait=2.5, heartbeat=7, worker="w1")
    assert (job.job_id, job.status, job.etag) == ("J1", "RUNNING", '"5"')
    (claim,) = stub.calls("POST", "experiments/E/nextjob/")
    assert claim.json() == {"worker": "w1", "heartbeat": 7, "wait": 2.5}
    assert not stub.calls("PUT", JOB)


def test_next_job_without_heartbeat_or_wait_sends_only_the_worker(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(200, job_json(), {"ETag": '"5"'}))
    exp.next_job()  # the stub_db has heartbeat=0
    (claim,) = stub.calls("POST", "experiments/E/nextjob/")
    assert set(claim.json()) == {"worker"}


def test_next_job_raises_no_job_error_on_204(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(204))
    with pytest.raises(errors.NoJobError, match="no job"):
        exp.next_job()


def test_with_a_running_job_puts_it_done_once(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job())
    job = schedy.Job("J1", exp, {"x": 1}, status="RUNNING", etag='"1"')
    with job:
        job.results["loss"] = 0.25
    (put,) = stub.calls("PUT", JOB)
    assert put.json()["status"] == "DONE"
    assert put.json()["results"] == {"loss": 0.25}
    assert put.headers["if-match"] == '"1"'


def test_with_a_queued_job_tries_to_run_it_first(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job('"2"'), echo_job('"3"'))
    job = schedy.Job("J1", exp, {"x": 1}, status="QUEUED", etag='"1"')
    with job:
        assert job.status == "RUNNING"
    first, second = stub.calls("PUT", JOB)
    assert (first.json()["status"], first.headers["if-match"]) == ("RUNNING", '"1"')
    assert (second.json()["status"], second.headers["if-match"]) == ("DONE", '"2"')


def test_with_a_job_taken_by_another_worker_raises_before_the_block(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, Answer(412, {"title": "Precondition Failed", "detail": "changed"}))
    job = schedy.Job("J1", exp, {"x": 1}, status="QUEUED", etag='"1"')
    ran = False
    with pytest.raises(errors.UnsafeUpdateError), job:
        ran = True
    assert not ran
    assert job.status == "QUEUED"


def test_an_exception_in_the_block_marks_the_job_crashed_and_propagates(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job())
    job = schedy.Job("J1", exp, {"x": 1}, status="RUNNING", etag='"1"')

    def train() -> None:
        with job:
            job.results["partial"] = 1
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    (put,) = stub.calls("PUT", JOB)
    assert put.json()["status"] == "CRASHED"
    assert put.json()["results"] == {"partial": 1}


@pytest.mark.parametrize(
    ("refusal", "logged"),
    [
        (Answer(500, {"title": "Internal Server Error", "detail": "oops"}), "Could not mark job J1"),
        (  # the job was taken away: not a failure to report with a traceback
            Answer(412, {"title": "Precondition Failed", "detail": "changed"}),
            "Job J1 was not marked CRASHED; its results were not saved.",
        ),
    ],
)
def test_the_block_exception_wins_over_a_failed_put(
    stub: Stub, exp: schedy.Experiment, caplog: pytest.LogCaptureFixture, refusal: Answer, logged: str
) -> None:
    stub.on("PUT", JOB, refusal)
    job = schedy.Job("J1", exp, {}, status="RUNNING", etag='"1"')
    with pytest.raises(KeyError), job:
        raise KeyError("boom")
    assert logged in caplog.text
    assert (job.lost is not None) == (refusal.status == 412)


def test_a_status_set_in_the_block_is_kept(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("PUT", JOB, echo_job())
    job = schedy.Job("J1", exp, {}, status="RUNNING", etag='"1"')
    with job:
        job.status = schedy.Job.PRUNED
    assert stub.calls("PUT", JOB)[0].json()["status"] == "PRUNED"


def test_heartbeats_run_from_the_claim_to_the_end_of_the_block(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(200, job_json(), {"ETag": '"1"'}))
    stub.on("POST", JOB + "heartbeat/", Answer(200, job_json(), {"ETag": '"1"'}))
    stub.on("PUT", JOB, echo_job())
    interval = 0.05
    claimed = time.monotonic()
    job = exp.next_job(heartbeat=interval)
    # The worker sets up (loads data, builds its model) before with job: the lease is kept meanwhile.
    wait_until(lambda: len(stub.calls("POST", JOB + "heartbeat/")) >= 2, "heartbeats before the block")
    with job:
        wait_until(lambda: len(stub.calls("POST", JOB + "heartbeat/")) >= 4, "heartbeats inside the block")
    held = time.monotonic() - claimed
    beats = len(stub.calls("POST", JOB + "heartbeat/"))
    assert 4 <= beats <= held / interval + 1  # one per interval at most: not a busy loop
    time.sleep(4 * interval)
    assert len(stub.calls("POST", JOB + "heartbeat/")) == beats  # none after
    assert stub.requests[-1].method == "PUT"


@pytest.mark.parametrize("status", [404, 409, 412])
def test_a_lost_lease_stops_the_heartbeats_with_a_warning(
    stub: Stub, exp: schedy.Experiment, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(200, job_json(), {"ETag": '"1"'}))
    stub.on("POST", JOB + "heartbeat/", Answer(status, {"title": "Gone", "detail": "not RUNNING"}))
    stub.on("PUT", JOB, Answer(412, {"title": "Precondition Failed", "detail": "changed"}))
    job = exp.next_job(heartbeat=0.05)

    def work_until_the_lease_is_lost() -> None:
        wait_until(lambda: "lost its lease" in caplog.text, "the lost lease's warning")
        time.sleep(0.3)  # six intervals more: no further beat

    with caplog.at_level(logging.WARNING, logger="schedy"), job:
        work_until_the_lease_is_lost()
    # The final update is refused too; nothing is raised (a worker loop goes on), job.lost says why.
    assert len(stub.calls("POST", JOB + "heartbeat/")) == 1
    assert len(stub.calls("PUT", JOB)) == 1
    assert "lost its lease" in caplog.text
    assert job.lost == "not RUNNING"


def test_failed_heartbeats_keep_beating(stub: Stub, exp: schedy.Experiment, caplog: pytest.LogCaptureFixture) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(200, job_json(), {"ETag": '"1"'}))
    stub.on("POST", JOB + "heartbeat/", Answer(500, {"title": "Oops", "detail": "db down"}), Answer(200, job_json()))
    stub.on("PUT", JOB, echo_job())
    with caplog.at_level(logging.WARNING, logger="schedy"), exp.next_job(heartbeat=0.05):
        wait_until(lambda: len(stub.calls("POST", JOB + "heartbeat/")) >= 3, "beats after the failed one")
    assert "will try again" in caplog.text


def test_jobs_yields_claimed_jobs_and_ends_when_the_experiment_is_done(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on(
        "POST",
        "experiments/E/nextjob/",
        Answer(200, job_json("A"), {"ETag": '"1"'}),
        Answer(204),
        Answer(200, job_json("B"), {"ETag": '"1"'}),
        Answer(204),
    )
    stub.on("GET", "experiments/E/?counts=true", Answer(200, EXP), Answer(200, {**EXP, "status": "DONE"}))
    ids = [job.job_id for job in exp.jobs(wait=0)]
    assert ids == ["A", "B"]
    assert exp.status == "DONE"


def test_jobs_waits_with_backoff_and_stops_after_idle_timeout(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(204))
    started = time.monotonic()
    assert list(exp.jobs(wait=0, idle_timeout=0.5)) == []
    elapsed = time.monotonic() - started
    assert elapsed >= 0.5
    assert elapsed < 10  # it stopped: a loop that ignored the timeout would go on (or sleep its pause of up to 30 s)
    polls = len(stub.calls("POST", "experiments/E/nextjob/"))
    assert 2 <= polls <= 6  # asked again after 50, 100, 200 ms… pauses, not a busy loop


def test_jobs_relies_on_the_long_poll_when_the_service_holds_the_request(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(204, delay=0.3))
    started = time.monotonic()
    assert list(exp.jobs(wait=0.3, idle_timeout=0.8)) == []
    assert time.monotonic() - started >= 0.8
    claims = stub.calls("POST", "experiments/E/nextjob/")
    waits = [c.json()["wait"] for c in claims]
    # Each claim asks the whole wait, but the last: no more than what is left of the idle timeout.
    assert all(w == 0.3 for w in waits[:-1]), waits
    assert 0 < waits[-1] <= 0.3, waits
    # Each claim is held 0.3 s: at most three fit in the 0.8 s (fewer on a loaded machine), and none
    # is a short poll in between.
    assert 1 <= len(claims) <= 3


def test_a_retried_creation_that_got_412_accepts_its_own_earlier_success(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("PUT", "experiments/E/", Answer(drop=True), Answer(412, {"title": "Precondition Failed", "detail": "x"}))
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    exp = schedy.ManualSearch("E")
    stub_db.add_experiment(exp)  # the first PUT created it; its answer was lost
    assert len(stub.calls("PUT", "experiments/E/")) == 2


def test_a_retried_creation_that_got_412_refuses_another_definition(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("PUT", "experiments/E/", Answer(drop=True), Answer(412, {"title": "Precondition Failed", "detail": "x"}))
    stub.on("GET", "experiments/E/", Answer(200, {**EXP, "status": "DONE"}))
    with pytest.raises(errors.ResourceExistsError):
        stub_db.add_experiment(schedy.ManualSearch("E"))


def test_a_retried_delete_that_got_412_is_our_own_success(stub: Stub, exp: schedy.Experiment) -> None:
    gone = Answer(412, {"title": "Precondition Failed", "detail": "gone"})
    # The first DELETE reached the service and deleted the job; its answer was lost. The retry's
    # 412 (already gone) is that success: the user sees no error.
    stub.on("DELETE", JOB, Answer(drop=True), gone)
    schedy.Job("J1", exp, {}).delete()
    sent = stub.calls("DELETE", JOB)
    assert [c.headers["if-match"] for c in sent] == ["*", "*"]  # one retry, still conditional
    stub.on("DELETE", "experiments/E/", Answer(drop=True), gone)
    exp.delete()
    assert len(stub.calls("DELETE", "experiments/E/")) == 2
    # Whereas a 412 to a first try means it was deleted before: that is an error.
    stub.on("DELETE", "experiments/E/jobs/J2/", gone)
    with pytest.raises(errors.UnsafeUpdateError, match="already deleted"):
        schedy.Job("J2", exp, {}).delete()
    stub.on("DELETE", "experiments/E/", gone)
    with pytest.raises(errors.UnsafeUpdateError, match="already deleted"):
        exp.delete()


def test_an_interrupted_request_does_not_poison_the_connection(stub: Stub, exp: schedy.Experiment) -> None:
    stub.on("POST", "experiments/E/nextjob/", Answer(204, delay=0.5))
    stub.on("POST", "experiments/E/jobs/", Answer(201, job_json(status="QUEUED"), {"ETag": '"1"'}))
    # Ctrl-C as a user sends it, whatever SIGINT was in the test runner (ignored when started in the background,
    # where interrupt_main would do nothing).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.1, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            exp.next_job(wait=0.5)
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert exp.add_job(hyperparameters={"x": 1}).etag == '"1"'  # not replayable: must go out on a clean connection
