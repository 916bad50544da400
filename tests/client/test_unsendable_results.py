"""A result the client cannot encode ends the job CRASHED at once, not RUNNING until its lease lapses."""

from __future__ import annotations

import logging

import pytest

import schedy


class Tensor:
    """Stands for any object JSON cannot hold (a framework's tensor)."""


def _experiment(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    exp = schedy.ManualSearch(name)
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"lr": 0.1})
    return exp


def test_an_unencodable_result_crashes_the_job_keeping_the_rest(db):
    exp = _experiment(db, "tensor")
    job = exp.next_job()
    job.results["loss"] = 0.25
    job.results["weights"] = Tensor()
    with pytest.raises(TypeError, match="cannot be sent to Schedy") as info:
        job.__exit__(None, None, None)  # what the end of `with job:` does
    assert f"Job {job.job_id} was marked CRASHED" in str(info.value)
    stored = exp.get_job(job.job_id)
    assert stored.status == "CRASHED"  # at once: no lease to wait for
    assert stored.results == {"loss": 0.25}
    assert stored.hyperparameters == {"lr": 0.1}


def test_while_the_block_raised_the_blocks_error_wins_and_the_job_is_crashed(db, caplog):
    exp = _experiment(db, "tensor-raised")
    job = exp.next_job()
    caplog.set_level(logging.ERROR, logger="schedy")
    job.results["weights"] = Tensor()
    failure = KeyError("the training failed")
    assert job.__exit__(KeyError, failure, None) is False  # not swallowed: the block's error wins
    assert exp.get_job(job.job_id).status == "CRASHED"
    assert "marked CRASHED" in caplog.text
