"""The worker loop's time limit (``exp.jobs(max_time=...)``), against the real service (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest

import schedy
from schedy.random import Uniform

SPACE = {"x": Uniform(0, 1)}


def test_a_worker_loop_with_max_time_claims_no_job_after_it(db):
    # A random search never runs out of jobs: max_time ends the loop, after the job it was working on.
    exp = schedy.RandomSearch("timed-loop", SPACE)
    db.add_experiment(exp)
    start = time.monotonic()
    claimed = []
    for job in exp.jobs(max_time=1.0):
        claimed.append(time.monotonic() - start)
        with job:
            time.sleep(0.6)
            job.results["loss"] = job.hyperparameters["x"]
    ended = time.monotonic() - start
    assert claimed
    assert claimed[-1] < 1.0 <= ended  # every claim within max_time, and the last job finished
    assert [j.status for j in exp.all_jobs()] == [schedy.Job.DONE] * len(claimed)
    with pytest.raises(ValueError, match="max_time must be a positive number of seconds"):
        next(exp.jobs(max_time=0))


def test_a_worker_loop_with_max_jobs_runs_that_many_and_claims_no_more(db):
    """This worker's budget (Optuna's n_trials): three jobs run, none claimed and left RUNNING after them."""
    exp = db.add_experiment(schedy.RandomSearch("counted-loop", SPACE))
    ran = 0
    for job in exp.jobs(max_jobs=3):
        with job:
            job.results["loss"] = job.hyperparameters["x"]
        ran += 1
    assert ran == 3
    assert [j.status for j in exp.all_jobs()] == [schedy.Job.DONE] * 3
    assert list(exp.jobs(max_jobs=0)) == []
    assert len(list(exp.all_jobs())) == 3
    for wrong in (-1, 2.5, True):
        with pytest.raises(ValueError, match="max_jobs must be a non-negative whole number of jobs"):
            next(exp.jobs(max_jobs=wrong))
