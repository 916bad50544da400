"""The median rule and missing or non-finite values: left out of the averages, never switching the rule off.

A missing value, NaN or ±inf used to be summed as +inf into the job's running average, which then stayed
infinite; once half the jobs had one (a metric sent every second epoch, a first report without it), the
median was infinite and the default rule stopped nobody.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.server.stopping import Median, Report
from schedy.stopping import Median as ClientMedian
from tests.server.stopping.feeding import feed

NON_FINITE = [None, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("missing", NON_FINITE)
def test_a_metric_sent_every_second_step_still_lets_the_default_rule_stop_a_bad_job(missing):
    policy = Median("val_loss", "min")
    # Five good jobs report val_loss at even steps only; a job ten times worse comes after them.
    good = [(f"j{i}", s, 0.5 - 0.05 * i if s % 2 == 0 else missing) for i in range(5) for s in range(6)]
    state, verdicts = feed(policy, good)
    assert not any(v.stop for v in verdicts)
    assert policy.observe(state, Report("bad", 0, 5.0)).stop  # was: the median of five +inf averages, never
    assert policy.observe(state, Report("late", 1, missing)).stop  # nothing finite reported: worst


@pytest.mark.parametrize("missing", NON_FINITE)
def test_a_first_report_without_the_metric_does_not_spare_a_job_ten_times_worse(missing):
    policy = Median("loss", "min")
    curves = [[missing, 0.5 - 0.04 * i, 0.45 - 0.04 * i, 0.4 - 0.04 * i] for i in range(7)]  # each a little better
    curves.append([missing, 5.0, 5.0, 5.0])
    reports = [(f"j{i}", s, curve[s]) for i, curve in enumerate(curves) for s in range(4)]
    _, verdicts = feed(policy, reports)
    stopped = {job for (job, _, _), verdict in zip(reports, verdicts, strict=True) if verdict.stop}
    assert stopped == {"j7"}


@pytest.mark.parametrize("missing", NON_FINITE)
def test_the_running_average_is_over_the_finite_values_reported(missing):
    policy = Median("loss", "min", min_jobs=1)
    state, _ = feed(policy, [("a", 0, 1.0), ("a", 1, missing), ("a", 2, 3.0)])  # average at step 2: (1 + 3) / 2
    assert not policy.observe(state, Report("b", 2, 1.9)).stop
    assert policy.observe(state, Report("c", 2, 2.1)).stop


@pytest.mark.parametrize("compare", ["average", "value"])
def test_a_job_with_nothing_finite_is_not_one_of_the_others_but_is_stopped_itself(compare):
    policy = Median("loss", "min", min_jobs=2, compare=compare)
    # Two diverged jobs first: neither counts as another job at step 0, so the third has none to compare with.
    state, verdicts = feed(policy, [("a", 0, math.nan), ("b", 0, None), ("c", 0, 5.0)])
    assert not any(v.stop for v in verdicts)
    assert policy.rungs(state) == [{"step": 0, "jobs": 3, "continued": 3}]  # all three reached step 0
    # With two others that reported a finite value, a job with none ranks worst and is stopped ...
    state, _ = feed(policy, [("a", 0, 5.0), ("b", 0, 6.0)])
    verdict = policy.observe(state, Report("c", 0, math.inf))
    assert verdict.stop
    assert verdict.reason is not None
    assert "no finite loss" in verdict.reason
    # ... and leaves no entry behind: the next job is compared with a and b only.
    assert not policy.observe(state, Report("d", 0, 5.5)).stop


def test_with_compare_value_a_missing_value_leaves_the_job_out_of_that_step():
    policy = Median("loss", "min", min_jobs=2, compare="value")
    state, _ = feed(policy, [("a", 1, 1.0), ("b", 1, None), ("c", 1, 1.2)])
    # The others' values at step 1 are 1.0 and 1.2 (median 1.1); b's missing one is no +inf among them.
    assert policy.observe(state, Report("d", 1, 1.15)).stop


def test_the_warm_up_and_min_jobs_still_hold_for_a_job_with_nothing_finite():
    policy = Median("loss", "min", warmup_steps=2, min_jobs=2)
    state, _ = feed(policy, [(j, s, 1.0) for j in "ab" for s in range(3)])
    assert not policy.observe(state, Report("c", 1, math.nan)).stop  # in the warm-up
    assert policy.observe(state, Report("c", 2, math.nan)).stop


SPACE = {"x": Uniform(0, 1)}


@pytest.fixture
def db(service: Any):
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


def test_the_service_stops_bad_jobs_that_report_the_metric_every_second_epoch(db):
    """Through the real service: val_loss at odd epochs (None at the others), the default median rule."""
    exp = schedy.RandomSearch("every-second", SPACE, early_stopping=ClientMedian("val_loss", "min"))
    db.add_experiment(exp)
    exp = db.get_experiment("every-second")
    pruned = []
    for i in range(8):
        level = 5.0 if i >= 6 else 0.4 - 0.02 * i  # each a little better than the last; the last two ten times worse
        with exp.next_job() as job:
            for epoch in range(6):
                value = level * (1 + 1 / (epoch + 1)) if epoch % 2 == 1 else None
                if job.report(epoch, val_loss=value):
                    pruned.append(i)
                    raise errors.JobPruned()
            job.results["val_loss"] = level
    assert pruned == [6, 7]  # was []: every job's running average was +inf from epoch 0 on
    assert [j.status for j in exp.all_jobs()].count(schedy.Job.PRUNED) == 2
