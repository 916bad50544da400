"""A job used in ways ``with job:`` was not written for (real service, both databases).

A process forked inside the block that leaves it, a block nested in itself
or entered by two threads, a job pickled to another process, and the words
of a claim on a DONE experiment and of a heartbeat after the experiment was
deleted.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time

import pytest

import schedy
from schedy._heartbeat import Heartbeats
from schedy.errors import NoJobError, UnsafeUpdateError

INTERVAL = 0.4  # seconds between heartbeats: a lease of 1.2 s


def _experiment(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    exp = db.add_experiment(schedy.ManualSearch(name))
    exp.add_job(hyperparameters={"x": 1})
    return exp


# -- a process forked inside the block ----------------------------------------------------------


def _exit_code(child: int, timeout: float = 30.0) -> int | None:
    """The forked child's exit code; ``None`` if it was still running after ``timeout`` (then killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(child, 9)
    os.waitpid(child, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("leave", ["sys.exit", "exception"])
def test_a_child_forked_inside_the_block_that_leaves_it_leaves_the_job_to_its_parent(
    db: schedy.SchedyDB, leave: str
) -> None:
    exp = _experiment(db, "forked")
    job = exp.next_job(heartbeat=INTERVAL)
    child = -1
    try:
        with job:
            child = os.fork()
            if child == 0:  # a helper (data preparation...) that reports, then leaves the block
                if job.report(7, loss=0.7):
                    os._exit(3)
                if leave == "sys.exit":
                    sys.exit(0)
                raise RuntimeError("the helper failed")
            assert _exit_code(child) == 0
            assert exp.get_job(job.job_id).status == schedy.Job.RUNNING  # the child did not end it
            time.sleep(3 * INTERVAL)  # still beaten for by the parent
            assert not job.report(8, loss=0.5)
            job.results["loss"] = 0.4
    except (SystemExit, RuntimeError):
        if child == 0:
            os._exit(0)  # the child: the job's __exit__ ran here and let the exception go on
        raise
    finally:
        if child == 0:
            os._exit(4)
    stored = exp.get_job(job.job_id)
    assert (stored.status, stored.results, job.lost) == (schedy.Job.DONE, {"loss": 0.4}, None)
    assert [report["step"] for report in stored.reports()] == [7, 8]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_leaves_its_parents_lease_alone() -> None:
    beats = Heartbeats()
    lease = beats.start(lambda: True, 60.0)
    try:
        with lease.lock:  # a beat in flight when the parent forks: the child's copy of the lock is held
            child = os.fork()
            if child == 0:
                try:
                    beats.stop(lease)  # e.g. job.put() of a status other than RUNNING, in the child
                finally:
                    os._exit(0)
        assert _exit_code(child, timeout=10) == 0
        assert lease.active
    finally:
        beats.close()


# -- one block per job ----------------------------------------------------------------------------


def test_a_nested_block_is_refused_and_the_outer_one_goes_on(db: schedy.SchedyDB) -> None:
    exp = _experiment(db, "nested")
    job = exp.next_job(heartbeat=INTERVAL)
    with job:
        with pytest.raises(UnsafeUpdateError, match=r"already inside a `with job:` block") as refused, job:
            job.results["loss"] = 5.0  # a helper that also does with job: (never reached)
        assert refused.value.code is None  # nothing was asked of the service
        assert exp.get_job(job.job_id).status == schedy.Job.RUNNING
        assert not job.report(1, loss=4.0)
        job.results["loss"] = 4.0
    stored = exp.get_job(job.job_id)
    assert (stored.status, stored.results, job.lost) == (schedy.Job.DONE, {"loss": 4.0}, None)
    with job:  # once the block ended, the job can be entered again (the 2018 client's try_run allowed it)
        job.results["loss"] = 3.0
    assert exp.get_job(job.job_id).results == {"loss": 3.0}


def test_one_job_entered_by_several_threads_at_once_runs_in_one(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.ManualSearch("threads"))
    job = exp.get_job(exp.add_job(hyperparameters={"x": 1}).job_id)  # QUEUED: entering it claims it
    start = threading.Barrier(4)
    outcomes: dict[int, str] = {}

    def enter(k: int) -> None:
        start.wait()
        try:
            with job:
                time.sleep(0.5)
                job.results["loss"] = float(k)
            outcomes[k] = "ran"
        except UnsafeUpdateError as refused:
            outcomes[k] = str(refused)

    threads = [threading.Thread(target=enter, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ran = [k for k, outcome in outcomes.items() if outcome == "ran"]
    assert len(ran) == 1, outcomes
    assert all("already inside a `with job:` block" in outcomes[k] for k in outcomes if k not in ran)
    stored = exp.get_job(job.job_id)
    assert (stored.status, stored.results, job.lost) == (schedy.Job.DONE, {"loss": float(ran[0])}, None)


# -- a job pickled to another process -------------------------------------------------------------


def _report_from_copy(job: schedy.Job) -> tuple[bool, str]:
    """In a spawned process: report on the job, then try to run it."""
    stop = job.report(3, loss=0.3)
    try:
        with job:
            pass
    except UnsafeUpdateError as refused:
        return stop, str(refused)
    return stop, "entered"


def test_a_job_holding_its_lease_pickles_without_it(db: schedy.SchedyDB) -> None:
    exp = _experiment(db, "pickled")
    job = exp.next_job(heartbeat=INTERVAL)
    copy = pickle.loads(pickle.dumps(job))  # noqa: S301 - our own bytes
    assert job._lease is not None  # the heartbeats stay with the original
    assert copy._lease is None
    assert (copy.job_id, copy.status, copy.etag, copy.hyperparameters) == (job.job_id, job.status, job.etag, {"x": 1})
    with job:
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            [(stop, entered)] = pool.map(_report_from_copy, [job])
        assert not stop
        assert entered.startswith(f"Job {job.job_id} is inside a `with job:` block of process {os.getpid()}")
        time.sleep(3 * INTERVAL)  # the original still beats for it
        assert exp.get_job(job.job_id).status == schedy.Job.RUNNING
        job.results["loss"] = 0.3
    stored = exp.get_job(job.job_id)
    assert (stored.status, stored.results, job.lost) == (schedy.Job.DONE, {"loss": 0.3}, None)
    assert [report["step"] for report in stored.reports()] == [3]


def test_a_pickled_copy_of_a_job_out_of_its_block_can_run_it(db: schedy.SchedyDB) -> None:
    exp = _experiment(db, "pickled-out")
    job = exp.next_job(heartbeat=0)
    copy = pickle.loads(pickle.dumps(job))  # noqa: S301 - our own bytes
    with copy:
        copy.results["loss"] = 1.5
    assert exp.get_job(job.job_id).status == schedy.Job.DONE


# -- words ------------------------------------------------------------------------------------------


def test_a_claim_on_a_done_experiment_says_it_is_done_and_how_to_resume_it(db: schedy.SchedyDB) -> None:
    exp = _experiment(db, "paused exp")
    stale = db.get_experiment("paused exp")  # read RUNNING
    with pytest.raises(NoJobError, match="right now"):
        db.add_experiment(schedy.ManualSearch("empty")).next_job()  # RUNNING, nothing queued: no more said
    exp.status = exp.DONE
    exp.push_updates()
    resume = r"is DONE, so it hands out no jobs: to resume it, run `schedy status 'paused exp' RUNNING`"
    with pytest.raises(NoJobError, match=resume):
        exp.next_job()  # read DONE by this copy
    started = time.monotonic()
    with pytest.raises(NoJobError, match=resume):
        stale.next_job(wait=5)  # the service answered the wait at once: it is DONE
    assert time.monotonic() - started < 4


def test_the_heartbeat_after_the_experiment_was_deleted_does_not_promise_the_results(
    db: schedy.SchedyDB, caplog: pytest.LogCaptureFixture
) -> None:
    exp = _experiment(db, "deleted")
    job = exp.next_job(heartbeat=0.2)
    exp.delete()
    with caplog.at_level(logging.WARNING, logger="schedy"):
        deadline = time.monotonic() + 10
        while job.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
    [warning] = [record.getMessage() for record in caplog.records if "lost its lease" in record.getMessage()]
    assert "(HTTP 404)" in warning
    assert warning.endswith("Heartbeats stopped; its results can no longer be saved.")
    assert "kept" not in warning
