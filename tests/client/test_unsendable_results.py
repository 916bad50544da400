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


def test_results_over_the_services_limit_crash_the_job_keeping_the_rest(db):
    exp = _experiment(db, "too-big")
    job = exp.next_job()
    job.results["loss"] = 0.25
    job.results["history"] = "x" * 1_200_000  # the service takes bodies of 1 MiB
    with pytest.raises(ValueError, match="over the service's limit of 1048576 bytes") as info:
        job.__exit__(None, None, None)
    assert f"job {job.job_id}'s results" in str(info.value)
    assert "save_artifact" in str(info.value)  # where such data belongs
    assert "marked CRASHED without 'history'" in str(info.value)
    stored = exp.get_job(job.job_id)
    assert stored.status == "CRASHED"  # at once, not when its lease lapses
    assert stored.results == {"loss": 0.25}


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10**400, "An integer of 401 digits is past a float's range"),
        (_nested(150), "more than 100 levels deep"),
        (_nested(5000), "more than 100 levels deep"),
    ],
    ids=["integer-past-floats", "nested-150", "nested-5000"],
)
def test_results_the_service_would_refuse_crash_the_job_keeping_the_rest(db, value, message):
    exp = _experiment(db, "refused")
    job = exp.next_job()
    job.results["loss"] = 0.25
    job.results["bad"] = value
    with pytest.raises(ValueError, match=message):
        job.__exit__(None, None, None)
    stored = exp.get_job(job.job_id)
    assert stored.status == "CRASHED"
    assert stored.results == {"loss": 0.25}
