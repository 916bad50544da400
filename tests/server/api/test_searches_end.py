"""A search that is over reads DONE when its last job ends, even when no worker asks for a job afterwards.

A claim that finds nothing left marks a grid, a PBT or a ``maxJobs`` search DONE; a worker per job
(a SLURM array's tasks, each ``with exp.next_job() as job:``) never sends that claim, and the search
read RUNNING for ever. The service's sweep (every second) now ends it (SQLite and PostgreSQL).
"""

from __future__ import annotations

import time

import schedy
from schedy.random import Uniform


def _status_after(exp: schedy.Experiment, db: schedy.SchedyDB, seconds: float = 15.0) -> str:
    """The experiment's status once DONE, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        status = db.get_experiment(exp.name).status
        if status == schedy.Experiment.DONE or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _one_job_workers(exp: schedy.Experiment, n: int) -> None:
    """``n`` workers holding a job each at once, then finishing them: no claim after the last job ends."""
    jobs = [exp.next_job() for _ in range(n)]
    for job in jobs:
        with job:
            job.results["loss"] = 1.0


def test_a_grid_whose_last_cell_ended_reads_done_without_another_claim(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(schedy.GridSearch("grid-ends", {"a": [1, 2, 3]}))
        _one_job_workers(exp, 2)
        time.sleep(2.5)  # two sweeps: one cell is left, so the grid goes on
        assert db.get_experiment("grid-ends").status == "RUNNING"
        _one_job_workers(exp, 1)
        assert _status_after(exp, db) == "DONE"
        assert sorted(j.hyperparameters["a"] for j in exp.all_jobs()) == [1, 2, 3]  # no job added by the sweep


def test_a_spent_budget_whose_last_job_ended_reads_done_without_another_claim(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(schedy.RandomSearch("budget-ends", {"x": Uniform(0, 1)}, max_jobs=3))
        _one_job_workers(exp, 2)
        time.sleep(2.5)
        assert db.get_experiment("budget-ends").status == "RUNNING"  # one job of the budget left
        _one_job_workers(exp, 1)
        assert _status_after(exp, db) == "DONE"
        assert len(list(exp.all_jobs())) == 3


def test_a_grid_with_a_crashed_cell_and_retries_left_waits_for_its_retry(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(schedy.GridSearch("grid-retry", {"a": [1, 2]}, max_retries=1))
        first, second = exp.next_job(), exp.next_job()
        with first:
            first.results["loss"] = 1.0
        try:
            with second:
                raise RuntimeError("out of memory")
        except RuntimeError:
            pass
        time.sleep(2.5)
        assert db.get_experiment("grid-retry").status == "RUNNING"  # the crashed cell is tried again
        assert [j.status for j in exp.all_jobs()].count("QUEUED") == 0  # by a worker's claim, not the sweep
        retry = exp.next_job()
        assert retry.hyperparameters == second.hyperparameters
        with retry:
            retry.results["loss"] = 2.0
        assert _status_after(exp, db) == "DONE"
