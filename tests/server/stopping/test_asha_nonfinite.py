"""ASHA and Hyperband: a missing or non-finite value at a rung never goes on, even the first one there.

A lone diverged value at a rung used to be "the best of 1" and go on, training up to η× the steps before the
next rung (Optuna's SuccessiveHalvingPruner prunes it). It is still recorded, and counts in the rung's ``n``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.server.stopping import ASHA, Hyperband, Report
from schedy.stopping import ASHA as ClientASHA
from tests.server.stopping.feeding import feed

NON_FINITE = [None, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_diverged_first_job_at_a_rung_is_stopped(value):
    policy = ASHA("loss", "min", 1, 3, 27)
    state, verdicts = feed(policy, [("a", 0, value), ("a", 1, value)])
    assert [v.stop for v in verdicts] == [False, True]  # step 0 is before the first rung
    assert (
        verdicts[-1].reason
        == "At rung 1 its loss was missing or not finite (NaN or infinite): a diverged run never goes on."
    )
    assert policy.rungs(state) == [{"bracket": 0, "step": 1, "jobs": 1, "continued": 0}]
    # The next job at the rung, finite, goes on: the diverged one is recorded worst.
    assert not policy.observe(state, Report("b", 1, 100.0)).stop


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_diverged_job_first_at_a_higher_rung_is_stopped_there(value):
    policy = ASHA("acc", "max", 1, 3, 27)
    # a passes rung 1 alone (finite), then diverges before rung 3, where it is the first.
    _, verdicts = feed(policy, [("a", 1, 0.5), ("a", 2, 0.6), ("a", 3, value)])
    assert [v.stop for v in verdicts] == [False, False, True]


def test_a_diverged_first_report_past_max_step_still_goes_on():
    # Its training is over: stopping it would only mark a finished job PRUNED (and it is still recorded).
    policy = ASHA("loss", "min", 1, 3, 9)
    state, verdicts = feed(policy, [("a", 9, math.nan)])
    assert not verdicts[0].stop
    assert [r["jobs"] for r in policy.rungs(state)] == [1, 1]


def test_diverged_jobs_count_in_a_rungs_n():
    # Three diverged jobs, then 0.3, 0.5, 0.4 at rung 1 (η = 3): n = 6, so the best 2 go on (0.3 and 0.4);
    # Optuna, which records no NaN, would keep 1 of 3. The documented choice (docs/early-stopping.md).
    policy = ASHA("loss", "min", 1, 3, 27)
    reports = [(f"d{i}", 1, math.nan) for i in range(3)] + [("a", 1, 0.3), ("b", 1, 0.5), ("c", 1, 0.4)]
    state, verdicts = feed(policy, reports)
    assert [v.stop for v in verdicts] == [True, True, True, False, True, False]
    assert policy.rungs(state) == [{"bracket": 0, "step": 1, "jobs": 6, "continued": 2}]


def test_hyperband_stops_a_diverged_first_job_in_its_bracket():
    policy = Hyperband("loss", "min", 1, 27)
    for bracket in range(policy.brackets - 1):  # the last bracket has no rung: it never stops
        job = next(f"job-{i}" for i in range(10_000) if policy.bracket_of(f"job-{i}") == bracket)
        first = 3**bracket
        _, verdicts = feed(policy, [(job, first, math.nan)])
        assert verdicts[0].stop, bracket


@pytest.fixture
def db(service: Any):
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


def test_the_service_stops_the_first_job_at_a_rung_when_it_diverged(db):
    exp = schedy.RandomSearch(
        "diverged-first", {"x": Uniform(0, 1)}, early_stopping=ClientASHA("loss", "min", 1, 3, 27)
    )
    db.add_experiment(exp)
    exp = db.get_experiment("diverged-first")
    with exp.next_job() as job:
        assert not job.report(0, loss=math.nan)
        assert job.report(1, loss=math.nan)  # was False: "the best of 1", trained on to rung 3
        raise errors.JobPruned()
    ended = exp.get_job(job.job_id)
    assert ended.status == schedy.Job.PRUNED
    assert ended.stop_reason is not None
    assert "not finite" in ended.stop_reason
