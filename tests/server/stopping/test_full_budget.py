"""ASHA and Hyperband never stop a job at or past maxStep: its training is over, PRUNED would be a lie."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from schedy.server.stopping import ASHA, Hyperband, Report, StoppingPolicy
from schedy.server.stopping.base import ReportArrays


def built(policy: StoppingPolicy, reports: list[tuple[str, int, float]]):
    ids = sorted({job for job, _, _ in reports})
    index = {job: i for i, job in enumerate(ids)}
    return policy.build(
        ReportArrays(
            ids,
            np.array([index[job] for job, _, _ in reports], dtype=np.int64),
            np.array([step for _, step, _ in reports], dtype=np.int64),
            np.array([value for _, _, value in reports], dtype=np.float64),
        )
    )


def run(policy: StoppingPolicy, reports: list[tuple[str, int, float]]) -> dict[str, int]:
    """Feed ``reports`` one by one; the step each stopped job was first told to stop at (as the bulk build says)."""
    state = policy.new_state()
    stopped: dict[str, int] = {}
    for job, step, value in reports:
        if policy.observe(state, Report(job, step, value)).stop:
            stopped.setdefault(job, step)
    bulk = built(policy, reports)
    assert bulk.state == state
    ids = sorted({job for job, _, _ in reports})
    assert {ids[j]: reports[at][1] for j, (at, _) in bulk.stops.items()} == stopped
    return stopped


def test_a_job_reporting_every_two_epochs_is_not_stopped_at_max_step_when_it_passes_the_last_rung():
    # Rungs 1, 3, 9 below max_step 10; reports at 2, 4, 6, 8, 10: rung 9 is passed at step 10, after the budget.
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=10)
    rng = random.Random(1)
    reports = []
    for i in range(30):
        x = rng.random()
        reports += [(f"j{i}", epoch, x + 1 / epoch) for epoch in (2, 4, 6, 8, 10)]  # curves never cross
    stopped = run(policy, reports)
    assert stopped  # the rungs below still stop
    assert 10 not in stopped.values()  # one of 30 ended PRUNED after its full training before


@pytest.mark.parametrize("max_step", [9, 10])
def test_jobs_reporting_only_at_the_end_are_never_stopped_but_still_set_the_bar(max_step):
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=max_step)
    # Worse and worse: before, most were stopped at the end of their training (4 of 6, 3 of 4).
    finals = [(f"f{i}", max_step, float(i)) for i in range(6)]
    assert run(policy, finals) == {}
    state = policy.new_state()
    for report in finals:
        policy.observe(state, Report(*report))
    # Recorded at every rung they passed, as continued: a later job reaching rung 1 competes with them.
    assert policy.rungs(state) == [
        {"bracket": 0, "step": step, "jobs": 6, "continued": 6} for step in (1, 3, 9) if step < max_step
    ]
    assert policy.observe(state, Report("early", 1, 3.5)).stop  # not among the best 2 of 7 at rung 1
    assert not policy.observe(state, Report("good", 1, 0.5)).stop


def test_a_report_past_max_step_continues_too_and_a_job_stopped_before_stays_stopped():
    policy = ASHA("acc", "max", min_step=1, reduction_factor=2, max_step=4)
    state = policy.new_state()
    assert not policy.observe(state, Report("a", 1, 0.9)).stop
    assert policy.observe(state, Report("b", 1, 0.1)).stop
    assert policy.observe(state, Report("b", 4, 0.99)).stop  # told once: the decision stands
    assert not policy.observe(state, Report("c", 7, -math.inf)).stop  # past max_step: over, whatever its value


def test_hyperband_never_stops_a_job_at_max_step_in_any_bracket():
    policy = Hyperband("loss", "min", min_step=1, max_step=10, reduction_factor=3)
    rng = random.Random(2)
    reports = []
    for i in range(300):
        x = rng.random()
        reports += [(f"j{i}", epoch, x + 1 / epoch) for epoch in (2, 4, 6, 8, 10)]
    stopped = run(policy, reports)
    assert stopped
    assert 10 not in stopped.values()
    only_at_end = [(f"end{i}", 10, float(i)) for i in range(60)]
    assert run(policy, only_at_end) == {}
