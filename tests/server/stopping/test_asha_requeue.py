"""ASHA and Hyperband count a job once per rung: a re-queued job's new attempt (run ``J/2``) takes its
earlier attempt's place at each rung it passes, instead of adding a job there."""

from __future__ import annotations

import random

import pytest

from schedy.server.stopping import ASHA, Hyperband, Report
from tests.server.stopping.feeding import feed


def test_a_requeued_attempt_takes_its_earlier_attempts_place_at_the_rung():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=2, max_step=8)
    # Rung 1: a continues, b is stopped (not among the best 1 of 2).
    reports = [("a", 1, 1.0), ("b", 1, 5.0)]
    # b is re-queued: its attempt 2 passes rung 1 with the best value, then rung 2.
    reports += [("b/2", 1, 0.5), ("b/2", 2, 0.4)]
    state, verdicts = feed(policy, reports)
    assert [v.stop for v in verdicts] == [False, True, False, False]
    rungs = policy.rungs(state)
    # Two jobs reached step 1 (not three runs), and neither stopped there now: b's stop went with its attempt.
    assert rungs[0] == {"bracket": 0, "step": 1, "jobs": 2, "continued": 2}
    assert rungs[1] == {"bracket": 0, "step": 2, "jobs": 1, "continued": 1}
    # The abandoned value 5.0 left the rung's quota: a new job at 4.0 is judged against 1.0 and 0.5 only.
    assert policy.observe(state, Report("c", 1, 4.0)).stop
    assert policy.rungs(state)[0] == {"bracket": 0, "step": 1, "jobs": 3, "continued": 2}


def test_a_requeued_attempt_stopped_again_counts_one_stop():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3)
    reports = [("a", 1, 1.0), ("b", 1, 2.0), ("c", 1, 3.0), ("c/2", 1, 9.0), ("c/3", 1, 8.0)]
    state, verdicts = feed(policy, reports)
    assert [v.stop for v in verdicts] == [False, True, True, True, True]
    assert policy.rungs(state) == [{"bracket": 0, "step": 1, "jobs": 3, "continued": 1}]


@pytest.mark.parametrize("seed", range(4))
def test_rungs_count_jobs_once_with_many_requeues_and_bulk_builds_agree(seed):
    rng = random.Random(seed)
    policy = Hyperband("loss", "min", min_step=1, max_step=27) if seed % 2 else ASHA("loss", "min", max_step=27)
    reports, attempts = [], {}
    for _ in range(60):
        job = f"j{rng.randrange(25)}"
        attempts[job] = attempts.get(job, 0) + 1
        run = job if attempts[job] == 1 else f"{job}/{attempts[job]}"
        reports += [(run, step, rng.random()) for step in sorted(rng.sample(range(1, 30), 4))]
    state, _ = feed(policy, reports)
    rungs = policy.rungs(state)
    assert rungs
    for rung in rungs:
        assert rung["jobs"] <= len(attempts)
        assert 0 <= rung["continued"] <= rung["jobs"]
    # Each job sits in one bracket, whatever its attempt.
    if isinstance(policy, Hyperband):
        for job, n in attempts.items():
            assert {policy.bracket_of(job if k == 1 else f"{job}/{k}") for k in range(1, n + 1)} == {
                policy.bracket_of(job)
            }
