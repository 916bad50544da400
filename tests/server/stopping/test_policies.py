"""Early-stopping policies, without a database: sequences of reports in, verdicts out."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest

from schedy.errors import DefinitionError
from schedy.server.stopping import ASHA, Hyperband, Median, Report, load_policy, parse_policy


def feed(policy, reports):
    return feed_more(policy, policy.new_state(), reports)


def feed_more(policy, state, reports):
    return state, [policy.observe(state, Report(job, step, value)) for job, step, value in reports]


# -- the median rule ------------------------------------------------------------------


def test_median_stops_a_job_worse_than_the_median_of_the_others_running_averages():
    policy = Median("loss", "min", min_jobs=3)
    # Three jobs whose running averages at step 1 are 1.5, 2.5 and 3.5 (median 2.5).
    reports = [(j, s, v) for j, curve in {"a": [2, 1], "b": [3, 2], "c": [4, 3]}.items() for s, v in enumerate(curve)]
    state, verdicts = feed(policy, reports)
    assert not any(v.stop for v in verdicts)
    assert policy.observe(state, Report("bad", 0, 9.0)).stop  # median at step 0 is 3: 9 is worse
    assert not policy.observe(state, Report("good", 0, 2.5)).stop
    verdict = policy.observe(state, Report("good", 1, 2.4))  # best 2.4 vs median(1.5, 2.5, 3.5) = 2.5
    assert not verdict.stop
    late = policy.observe(state, Report("late", 1, 2.6))  # its best at step 1 is 2.6 > 2.5 (4 others: 1.5..3.5)
    assert late.stop
    assert "median" in (late.reason or "")


def test_median_compared_with_values_takes_the_median_of_the_others_values_at_the_step():
    """compare="value" (Optuna's MedianPruner): the bar at a step is the others' values there, not their averages."""
    # Three jobs improving: values at step 1 are 1, 2, 3 (median 2); running averages 1.5, 2.5, 3.5 (median 2.5).
    reports = [(j, s, v) for j, curve in {"a": [2, 1], "b": [3, 2], "c": [4, 3]}.items() for s, v in enumerate(curve)]
    averages, values = Median("loss", "min", min_jobs=3), Median("loss", "min", min_jobs=3, compare="value")
    (state_a, _), (state_v, _) = feed(averages, reports), feed(values, reports)
    for state, policy in ((state_a, averages), (state_v, values)):
        assert not policy.observe(state, Report("late", 0, 2.2)).stop  # step 0: values 2, 3, 4 are their averages
    # Its best, 2.2, passes the averages' bar (2.5) but not the values' (2).
    assert not averages.observe(state_a, Report("late", 1, 2.3)).stop
    stopped = values.observe(state_v, Report("late", 1, 2.3))
    assert stopped.stop
    assert stopped.reason == "At step 1 its best loss was worse than the median of 3 other jobs' values."


def test_median_compared_with_values_stops_more_of_improving_curves_and_keeps_the_best():
    rng = random.Random(7)
    factors = {f"j{i}": 1 + rng.random() for i in range(60)}  # a job's curve: its factor times a falling one
    curves = {
        j: [factor * (1 + 4 / (s + 1)) * (1 + 0.02 * rng.random()) for s in range(20)] for j, factor in factors.items()
    }
    best = min(factors, key=factors.__getitem__)
    reports = [(j, s, v) for s in range(20) for j, curve in curves.items() for v in [curve[s]]]
    spent = {}
    for compare in ("average", "value"):
        policy = Median("loss", "min", compare=compare)
        state = policy.new_state()
        stopped: set[str] = set()
        steps = 0
        for job, step, value in reports:
            if job in stopped:
                continue
            steps += 1
            if policy.observe(state, Report(job, step, value)).stop:
                stopped.add(job)
        assert best not in stopped
        spent[compare] = steps
    assert spent["value"] < spent["average"] < 20 * 60


def test_median_waits_for_min_jobs_and_warmup():
    policy = Median("acc", "max", warmup_steps=2, min_jobs=2)
    state, _ = feed(policy, [("a", s, 0.9) for s in range(4)] + [("b", s, 0.8) for s in range(4)])
    assert not policy.observe(state, Report("c", 0, 0.1)).stop  # in the warm-up
    assert not policy.observe(state, Report("c", 1, 0.1)).stop
    assert policy.observe(state, Report("c", 2, 0.1)).stop  # max: 0.1 is worse than 0.85
    lone = Median("acc", "max", min_jobs=3)
    state, verdicts = feed(lone, [("a", 0, 0.9), ("b", 0, 0.8), ("c", 0, 0.1)])
    assert not any(v.stop for v in verdicts)  # only two others at step 0


def test_median_uses_the_best_value_so_far_not_the_last():
    policy = Median("loss", "min", min_jobs=2)
    state, _ = feed(policy, [("a", s, 1.0) for s in range(3)] + [("b", s, 1.0) for s in range(3)])
    assert not policy.observe(state, Report("c", 0, 0.5)).stop
    assert not policy.observe(state, Report("c", 1, 5.0)).stop  # best so far 0.5 < median 1.0


@pytest.mark.parametrize("value", [math.nan, None, math.inf, -math.inf])
def test_median_ranks_nan_missing_and_infinite_values_worst(value):
    policy = Median("loss", "min", min_jobs=2)
    state, _ = feed(policy, [("a", 0, 5.0), ("b", 0, 6.0)])
    assert policy.observe(state, Report("c", 0, value)).stop
    # ... and a worst job's running average never turns the median into NaN.
    assert not policy.observe(state, Report("d", 0, 5.5)).stop


def test_median_forgets_a_job_it_stopped():
    policy = Median("loss", "min", min_jobs=2)
    firsts = {"f": 4.0, "c": 3.0, "b": 2.0, "a": 1.0}  # worst first: none stopped
    state, verdicts = feed(policy, [(j, 0, v) for j, v in firsts.items()])
    assert not policy.observe(state, Report("d", 0, 2.0)).stop  # 2.0 vs median 2.5: goes on, counted
    _, verdicts = feed_more(policy, state, [(j, 1, 0.1) for j in firsts])
    assert not any(v.stop for v in verdicts)
    stopped = policy.observe(state, Report("d", 1, 1.9))  # best 1.9 vs the others' averages' median 1.3
    assert stopped.stop
    # d's average at step 0 is withdrawn: the median there is 2.5 again (it would be 2.0 with d), so a
    # late job with 2.2 goes on.
    assert not policy.observe(state, Report("e", 0, 2.2)).stop
    # A stopped job that goes on is told to stop again, with the same reason, and counts nowhere.
    assert policy.observe(state, Report("d", 2, 0.0)) == stopped
    # Reached each step, and went on from it: d stopped at step 1.
    assert {r["step"]: (r["jobs"], r["continued"]) for r in policy.rungs(state)} == {0: (6, 6), 1: (5, 4)}


def test_median_spends_a_third_of_the_steps_and_never_stops_the_best():
    # Jobs one after another, curves floor + 1/step: the median of the jobs still worth running stops
    # most losers at once (counting the stopped ones too, the rule spent about half of the steps).
    spent = budget = 0
    for seed in range(5):
        rng = random.Random(seed)
        policy = Median("loss", "min")
        state = policy.new_state()
        floors = [rng.uniform(0.0, 1.0) for _ in range(60)]
        for i, floor in enumerate(floors):
            for step in range(1, 28):
                spent += 1
                if policy.observe(state, Report(f"j{i}", step, floor + 1.0 / step)).stop:
                    assert floor != min(floors)
                    break
        budget += 60 * 27
    assert spent < 0.4 * budget


# -- ASHA -------------------------------------------------------------------------------


def test_asha_keeps_the_top_third_of_each_rung_as_jobs_arrive():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3)
    # Values arrive worst to best at rung 1: every new job is the best so far and continues.
    _, improving = feed(policy, [(f"j{i}", 1, 10.0 - i) for i in range(9)])
    assert [v.stop for v in improving] == [False] * 9
    # Best first: the first job continues, the rest are stopped until the quota grows (n // 3).
    _, worsening = feed(policy, [(f"j{i}", 1, float(i)) for i in range(9)])
    assert [v.stop for v in worsening] == [False] + [True] * 8
    # A job equal to the kept value continues (ties are not worse).
    state, _ = feed(policy, [("a", 1, 1.0), ("b", 1, 2.0), ("c", 1, 3.0)])
    assert not policy.observe(state, Report("d", 1, 1.0)).stop


def test_asha_rungs_grow_geometrically_and_skipped_rungs_are_recorded():
    policy = ASHA("loss", "min", min_step=2, reduction_factor=3, max_step=20)
    state, verdicts = feed(policy, [("a", 1, 5.0), ("a", 7, 4.0), ("a", 18, 3.0), ("a", 60, 2.0)])
    assert not any(v.stop for v in verdicts)
    assert policy.rungs(state) == [
        {"bracket": 0, "step": 2, "jobs": 1, "continued": 1},
        {"bracket": 0, "step": 6, "jobs": 1, "continued": 1},
        {"bracket": 0, "step": 18, "jobs": 1, "continued": 1},
    ]
    # Between rungs there is nothing to decide, whatever the value.
    assert not policy.observe(state, Report("b", 1, 100.0)).stop
    assert policy.observe(state, Report("b", 2, 100.0)).stop


def test_asha_promotes_about_one_in_eta_from_a_random_order():
    rng = random.Random(7)
    policy = ASHA("acc", "max", min_step=1, reduction_factor=4)
    values = [rng.random() for _ in range(400)]
    _, verdicts = feed(policy, [(f"j{i}", 1, v) for i, v in enumerate(values)])
    kept = sum(not v.stop for v in verdicts)
    # Asynchronous: early arrivals compete with few, so more than n/η continue, but not many more.
    assert 100 <= kept <= 140
    # Every job kept late in the run is in the best quarter of all values.
    best_quarter = sorted(values, reverse=True)[100]
    late = [v for v, verdict in zip(values[200:], verdicts[200:], strict=True) if not verdict.stop]
    assert late
    assert all(v >= best_quarter * 0.95 for v in late)


def test_asha_records_a_stopped_job_at_no_further_rung():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=2)
    state, verdicts = feed(policy, [("a", 1, 1.0), ("b", 1, 2.0)])
    assert [v.stop for v in verdicts] == [False, True]
    # b goes on anyway, with a value that would lead rung 2: it is told to stop again, and not recorded.
    assert policy.observe(state, Report("b", 2, 0.0)) == verdicts[1]
    assert not policy.observe(state, Report("a", 2, 0.5)).stop
    assert policy.rungs(state) == [
        {"bracket": 0, "step": 1, "jobs": 2, "continued": 1},
        {"bracket": 0, "step": 2, "jobs": 1, "continued": 1},
    ]


def test_asha_counts_the_jobs_that_went_on_from_every_rung_the_last_one_too():
    # Rungs at 1 and 3 (max_step 9): how many went on from rung 3 is not the size of a rung above it.
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=9)
    losses = [5.0, 4.0, 6.0, 3.0, 7.0, 2.0, 8.0, 1.0, 9.0]  # improving jobs keep arriving: several go on
    state, first = feed(policy, [(f"j{i}", 1, v) for i, v in enumerate(losses)])
    kept = [f"j{i}" for i, v in enumerate(first) if not v.stop]
    best_first = sorted(kept, key=lambda j: losses[int(j[1:])])  # at rung 3 the best arrives first
    _, third = feed_more(policy, state, [(j, 3, losses[int(j[1:])]) for j in best_first])
    went_on = sum(not v.stop for v in third)
    assert 0 < went_on < len(kept)  # some stopped at rung 3, some went on towards max_step
    assert policy.rungs(state) == [
        {"bracket": 0, "step": 1, "jobs": 9, "continued": len(kept)},
        {"bracket": 0, "step": 3, "jobs": len(kept), "continued": went_on},
    ]


def test_asha_never_stops_a_job_that_reached_max_step():
    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=27)
    state, _ = feed(policy, [(f"j{i}", step, float(i)) for i in range(3) for step in (1, 3, 9, 27)])
    _, passed = feed_more(policy, state, [("late", step, -1.0) for step in (1, 3, 9)])
    assert not any(v.stop for v in passed)
    # Worse than every job at 27, but there its training is over: not stopped, nothing recorded.
    assert not policy.observe(state, Report("late", 27, 100.0)).stop
    assert {r["step"]: r["jobs"] for r in policy.rungs(state)} == {1: 4, 3: 2, 9: 2}  # j1, j2 stopped at 1


@pytest.mark.parametrize("value", [math.nan, None])
def test_asha_ranks_nan_and_missing_worst(value):
    policy = ASHA("loss", "min")
    state, _ = feed(policy, [("a", 1, 1.0)])
    assert policy.observe(state, Report("b", 1, value)).stop


# -- Hyperband -----------------------------------------------------------------------------


def test_hyperband_brackets_follow_the_budget_rule_and_the_last_never_stops():
    policy = Hyperband("loss", "min", min_step=1, max_step=27, reduction_factor=3)
    assert policy.brackets == 4
    counts = Counter(policy.bracket_of(f"job-{i}") for i in range(40_000))
    # weights (s+1)/(s-b+1)·η^(s-b), s = 3: 27·1, 9·4/3, 3·2, 1·4 -> 27, 12, 6, 4 of 49
    for bracket, weight in enumerate([27, 12, 6, 4]):
        assert counts[bracket] / 40_000 == pytest.approx(weight / 49, abs=0.01)
    # The same job always lands in the same bracket (every service process agrees).
    assert all(policy.bracket_of("x") == policy.bracket_of("x") for _ in range(3))
    last = [f"job-{i}" for i in range(200) if policy.bracket_of(f"job-{i}") == 3]
    state = policy.new_state()
    verdicts = [policy.observe(state, Report(job, step, float(i))) for i, job in enumerate(last) for step in (1, 9, 26)]
    assert not any(v.stop for v in verdicts)
    first = [f"job-{i}" for i in range(200) if policy.bracket_of(f"job-{i}") == 0]
    verdicts = [policy.observe(state, Report(job, 1, float(i))) for i, job in enumerate(first)]
    assert sum(v.stop for v in verdicts) == len(first) - 1  # best first: only it survives rung 1


def test_hyperband_last_bracket_never_stops_whatever_max_step():
    policy = Hyperband("loss", "min", min_step=1, max_step=30, reduction_factor=3)  # 27 < 30: a rung would fit
    last = [f"job-{i}" for i in range(400) if policy.bracket_of(f"job-{i}") == policy.brackets - 1]
    state = policy.new_state()
    verdicts = [policy.observe(state, Report(job, 27, float(-i))) for i, job in enumerate(last)]  # worst first
    assert last
    assert not any(v.stop for v in verdicts)


# -- definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "words"),
    [
        ({"asha": {"objective": "min"}}, "resultName"),
        ({"asha": {"resultName": "loss", "objective": "minimize"}}, '"min" or "max"'),
        ({"asha": {"resultName": "loss", "objective": "min", "reductionFactor": 1}}, "reductionFactor"),
        ({"asha": {"resultName": "loss", "objective": "min", "minStep": 0}}, "minStep"),
        ({"asha": {"resultName": "loss", "objective": "min", "minStep": 5, "maxStep": 2}}, "maxStep"),
        ({"asha": {"resultName": "loss", "objective": "min", "minStep": 1.5}}, "minStep"),
        ({"hyperband": {"resultName": "loss", "objective": "min"}}, "maxStep"),
        ({"median": {"resultName": "loss", "objective": "min", "warmupSteps": -1}}, "warmupSteps"),
        ({"median": {"resultName": "loss", "objective": "min", "patience": 3}}, "patience"),
        ({"median": {"resultName": "loss", "objective": "min", "compare": "mean"}}, 'compare must be "average"'),
        ({"pruner": {}}, "Unknown early-stopping policy"),
        ({"asha": {}, "median": {}}, "one key"),
        ("asha", "one key"),
    ],
)
def test_bad_definitions_are_refused_with_a_sentence(wire, words):
    with pytest.raises(DefinitionError, match=words.replace("(", r"\(")):
        parse_policy(wire)


def test_definitions_round_trip_with_defaults_filled():
    policy = parse_policy({"asha": {"resultName": "loss", "objective": "min"}})
    assert policy.to_params() == {
        "resultName": "loss",
        "objective": "min",
        "minStep": 1,
        "reductionFactor": 3,
        "maxStep": None,
    }
    median = parse_policy({"median": {"resultName": "acc", "objective": "max"}})
    assert median.to_params() == {"resultName": "acc", "objective": "max", "warmupSteps": 0, "minJobs": 5}
    assert load_policy('{"median": {"resultName": "acc", "objective": "max"}}').to_params() == median.to_params()
    # The default comparison is left out (an option stored before it existed reads the same); the other is kept.
    assert parse_policy({"median": {**median.to_params(), "compare": "average"}}).to_params() == median.to_params()
    values = parse_policy({"median": {"resultName": "acc", "objective": "max", "compare": "value"}})
    assert values.to_params()["compare"] == "value"
    assert load_policy(json.dumps({"median": values.to_params()})).compare == "value"
