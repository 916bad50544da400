"""The median rule counts each job once per step: a repeated step replaces the job's entry, never adds a job."""

from __future__ import annotations

import random

import pytest

from schedy.server.stopping import Median, Report
from tests.server.stopping.feeding import feed


@pytest.mark.parametrize("compare", ["average", "value"])
def test_a_job_repeating_a_step_counts_as_one_other_job_for_min_jobs(compare):
    policy = Median("loss", "min", min_jobs=3, compare=compare)
    # Job 0 reports step 1 three times; job 1 reports it once, much worse: only one other job is there.
    state, verdicts = feed(policy, [("j0", 1, 1.0), ("j0", 1, 1.0), ("j0", 1, 1.0), ("j1", 1, 5.0)])
    assert not any(v.stop for v in verdicts)  # was stopped: "the median of 3 other jobs"
    assert policy.rungs(state) == [{"step": 1, "jobs": 2, "continued": 2}]  # two jobs reached step 1, not four
    # Two more jobs: now three others, and 5 is worse than their median.
    _, more = feed(
        policy, [("j0", 1, 1.0), ("j0", 1, 1.0), ("j0", 1, 1.0), ("a", 1, 1.0), ("b", 1, 1.0), ("c", 1, 5.0)]
    )
    assert more[-1].stop
    assert "median of 3 other jobs" in (more[-1].reason or "")


def test_a_job_is_never_compared_with_its_own_earlier_report_at_the_step():
    policy = Median("loss", "min", min_jobs=2, compare="value")
    # c reports step 1 first (2.5, nobody to compare with), then b (3) and a (1), then c again (2.6).
    _, verdicts = feed(policy, [("c", 1, 2.5), ("b", 1, 3.0), ("a", 1, 1.0), ("c", 1, 2.6)])
    # c's best, 2.5, is worse than the median of the other two jobs (1 and 3: 2). Before, its own 2.5
    # sat among the "others" (1, 2.5, 3), made the median 2.5, and c went on.
    assert [v.stop for v in verdicts] == [False, False, False, True]
    assert verdicts[-1].reason == "At step 1 its best loss was worse than the median of 2 other jobs' values."


def test_a_repeated_step_replaces_the_jobs_entry_for_the_jobs_compared_later():
    policy = Median("loss", "min", min_jobs=2, compare="value")
    # a reports step 1 as 9 then, resumed, as 1: the jobs after it see 1 for a, once.
    state, _ = feed(policy, [("a", 1, 9.0), ("a", 1, 1.0), ("b", 1, 5.0)])
    assert policy.observe(state, Report("probe", 1, 4.0)).stop  # median(1, 5) = 3; before median(1, 5, 9) = 5


@pytest.mark.parametrize("compare", ["average", "value"])
@pytest.mark.parametrize("seed", range(6))
def test_every_report_sent_twice_gets_the_decisions_of_every_report_sent_once(compare, seed):
    """A worker that resends each report (an answer lost, a retry) changes no decision and no count."""
    rng = random.Random(seed)
    policy = Median("loss", "min", min_jobs=3, compare=compare)
    once = []
    for i in range(30):
        once += [(f"j{i}", step, rng.randint(0, 64) / 8) for step in (1, 2, 3, 4)]  # exact sums and means
    rng.shuffle(once)
    once.sort(key=lambda r: r[1])  # steps in order per job, jobs interleaved
    twice = [report for report in once for _ in range(2)]
    state_once, verdicts_once = feed(policy, once)
    state_twice, verdicts_twice = feed(policy, twice)
    assert verdicts_twice[1::2] == verdicts_once
    assert verdicts_twice[0::2] == verdicts_once
    assert policy.rungs(state_twice) == policy.rungs(state_once)
    assert any(v.stop for v in verdicts_once)
