"""Leaving ``for job in exp.jobs():`` before a job's ``with job:`` queues that job again."""

from __future__ import annotations

import schedy


def _manual(db: schedy.SchedyDB, name: str, count: int) -> tuple[schedy.Experiment, list[str]]:
    db.add_experiment(schedy.ManualSearch(name))
    exp = db.get_experiment(name)
    return exp, [exp.add_job(hyperparameters={"i": i}).job_id for i in range(count)]


def test_a_job_left_by_a_break_before_its_block_is_queued_again(db: schedy.SchedyDB) -> None:
    exp, (job_id,) = _manual(db, "left", 1)
    loop = exp.jobs(wait=0, heartbeat=1)
    for job in loop:
        assert job.status == schedy.Job.RUNNING
        break
    loop.close()  # what CPython does at once once nothing holds the loop
    again = exp.get_job(job_id)
    assert (again.status, again.results) == (schedy.Job.QUEUED, {})
    with exp.next_job() as retried:  # another worker gets it
        assert retried.job_id == job_id
        retried.results["loss"] = 1.0
    assert exp.get_job(job_id).status == schedy.Job.DONE


def test_a_job_whose_block_ran_is_left_as_it_ended(db: schedy.SchedyDB) -> None:
    exp, (first, second) = _manual(db, "ended", 2)
    loop = exp.jobs(wait=0, heartbeat=1)
    for job in loop:
        with job:
            job.results["loss"] = 0.5
        break
    loop.close()
    assert exp.get_job(first).status == schedy.Job.DONE
    assert exp.get_job(second).status == schedy.Job.QUEUED  # never claimed
