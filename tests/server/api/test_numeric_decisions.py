"""Search and stopping decisions on awkward numbers, through the client and the real service.

The rules are tested without a database in tests/server/schedulers/ and tests/server/stopping/; here one
scenario each checks that the service decides the same: infinite results rank as diverged runs (TPE, PBT),
PBT explore stays on a step grid, ASHA never stops a job at maxStep, the median rule counts jobs, not reports.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import schedy
from schedy import pbt
from schedy.random import Integer, Uniform
from schedy.stopping import ASHA, Median
from tests.server.conftest import exp_path


@pytest.fixture
def db(service: Any):
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


def test_tpe_is_not_drawn_to_runs_that_diverged_to_minus_infinity(db):
    exp = schedy.TPESearch("tpe-inf", {"x": Uniform(0, 10)}, "min", "loss", seed=1)
    db.add_experiment(exp)
    for x in [0.5, 1, 2, 3, 4, 5, 6, 7, 8]:
        exp.add_job(hyperparameters={"x": x}, status=schedy.Job.DONE, results={"loss": (x - 2) ** 2})
    for x in [9.0, 9.2, 9.4]:
        exp.add_job(hyperparameters={"x": x}, status=schedy.Job.DONE, results={"loss": -math.inf})
    proposals = []
    for job in exp.jobs(max_jobs=12, idle_timeout=2, wait=1):
        with job:
            x = job.hyperparameters["x"]
            proposals.append(x)
            job.results["loss"] = -math.inf if x >= 8.8 else (x - 2) ** 2
    assert len(proposals) == 12
    assert sum(x >= 8.5 for x in proposals) <= 1, proposals  # was more than half
    assert sum(1 <= x <= 3 for x in proposals) >= 6, proposals


def test_pbt_never_copies_a_member_scoring_infinity(db):
    exp = schedy.PopulationBasedTraining(
        "pbt-inf", pbt.MAXIMIZE, "q", pbt.Truncate(0.25), explore={"a": pbt.Perturb(0.99, 1.0)}
    )
    db.add_experiment(exp)
    # h0 diverged: +inf, the largest number, on a maximised objective. Added first, it is the first chosen.
    for q in [math.inf, 0.9, 0.5, 0.1]:
        exp.add_job(hyperparameters={"a": q if math.isfinite(q) else 0.2}, status=schedy.Job.DONE, results={"q": q})
    claimed = [exp.next_job() for _ in range(4)]  # one interval for each member
    assert sorted(job.member for job in claimed) == ["h0", "h1", "h2", "h3"]
    exploits = [(event["member"], event["sourceMember"]) for event in exp.events() if event.get("kind") == "exploit"]
    # h0 ranks last: it copies the best real member; nobody copies it (before, h3 copied h0, and h0 went on).
    assert exploits == [("h0", "h1")]


def test_pbt_explore_keeps_an_integer_with_a_step_on_its_values(db):
    exp = schedy.PopulationBasedTraining(
        "pbt-step",
        pbt.MAXIMIZE,
        "q",
        pbt.Truncate(0.25),
        explore={"k": pbt.Perturb(0.5, 2.0, clip=True)},
        initial_distributions={"k": Integer(0, 20, step=4)},
        population_size=4,
        max_generations=6,
    )
    exp.extra["seed"] = 1
    db.add_experiment(exp)
    seen = []
    for job in exp.jobs(idle_timeout=5, wait=1):
        with job:
            seen.append(job.hyperparameters["k"])
            job.results["q"] = -abs(job.hyperparameters["k"] - 10)
    assert len(seen) >= 16  # exploits may jump generations
    assert set(seen) <= {0, 4, 8, 12, 16, 20}, seen  # 11 and 19 were handed out before
    assert any(event.get("kind") == "exploit" for event in exp.events())


@pytest.mark.parametrize("max_step", [9, 10])
def test_asha_lets_jobs_that_report_only_at_max_step_finish_done(db, max_step):
    exp = schedy.RandomSearch(
        f"asha-end-{max_step}", {"x": Uniform(0, 1)}, early_stopping=ASHA("loss", "min", 1, 3, max_step)
    )
    db.add_experiment(exp)
    told = []
    for loss in [1.0, 2.0, 3.0, 4.0, 5.0]:  # each worse than the last
        with exp.next_job() as job:
            job.results["loss"] = loss
            told.append(job.report(max_step, loss=loss))
    assert told == [False] * 5  # before, the 2nd to 5th were told to stop after their full training
    assert {job.status for job in exp.all_jobs()} == {schedy.Job.DONE}


def test_the_median_rule_does_not_count_a_jobs_repeated_step_as_other_jobs(db, api):
    exp = schedy.RandomSearch("median-repeat", {"x": Uniform(0, 1)}, early_stopping=Median("loss", "min", 0, 3))
    db.add_experiment(exp)
    with exp.next_job() as first:
        assert [first.report(1, loss=1.0) for _ in range(3)] == [False] * 3
    with exp.next_job() as second:
        # Only one other job reached step 1: min_jobs=3 is not met, whatever its value.
        assert second.report(1, loss=5.0) is False
    stopping = api.http.get(exp_path(exp.name) + "stopping/").json()
    assert stopping["rungs"] == [{"step": 1, "jobs": 2, "continued": 2}]
