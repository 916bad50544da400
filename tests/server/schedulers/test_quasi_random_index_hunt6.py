"""A quasi-random sequence's next point never goes back, whatever jobs are added by hand or deleted (pure).

The tester's sequence: 3 jobs added by hand, 2 claims (points 3 and 4), the 3 hand jobs deleted, 3 more
claims. The index used to be ``max(len(jobs), decisions)``: 2 claims made 2 decisions, so after the
deletions it fell back to 2 and the claims got points 2, 3, 4 (3 and 4 twice). Here the snapshot carries
what the service records with each decision (``Decision.sequence_next``), as the claim does.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from schedy.server.schedulers.base import JobView, Scheduler, Snapshot
from schedy.server.schedulers.random_search import QuasiRandomSearch, quasi_random_point
from schedy.server.schedulers.registry import parse_scheduler

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}, "y": {"uniform": {"low": 0, "high": 1}}}
KEY = 12345


class _Experiment:
    """The service's part, in memory: the jobs, the decision counter and the recorded ``sequence_next``."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.jobs: list[JobView] = []
        self.decisions = 0
        self.sequence_next = 0
        self.made = 0

    def add_by_hand(self) -> JobView:
        self.made += 1
        job = JobView(f"hand{self.made}", "DONE", {"x": 0.5, "y": 0.5}, {"loss": 1.0}, float(self.made))
        self.jobs.append(job)
        return job

    def claim(self) -> dict[str, Any]:
        snapshot = Snapshot(tuple(self.jobs), key=KEY, decisions=self.decisions, sequence_next=self.sequence_next)
        decision = self.scheduler.decide(snapshot, random.Random(self.decisions))
        assert decision.job is not None
        self.decisions += 1
        if decision.sequence_next is not None:
            self.sequence_next = max(self.sequence_next, decision.sequence_next)
        self.made += 1
        self.jobs.append(JobView(f"j{self.made}", "RUNNING", decision.job.hyperparameters, {}, float(self.made)))
        return dict(decision.job.hyperparameters)


def _schedulers() -> list[Scheduler]:
    return [
        parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}}),
        parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "halton"}}),
        # TPE's startup (Sobol), kept on by a startup longer than the test.
        parse_scheduler(
            {"TPESearch": {"distributions": SPACE, "objective": "min", "resultName": "loss", "nStartupJobs": 1000}}
        ),
    ]


def _point(scheduler: Scheduler, index: int) -> dict[str, Any]:
    if isinstance(scheduler, QuasiRandomSearch):
        return quasi_random_point(scheduler.flat, scheduler.sampler, index, KEY)
    return quasi_random_point(scheduler.flat, "sobol", index, KEY)  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheduler", _schedulers(), ids=["sobol", "halton", "tpe-startup"])
def test_deleting_hand_jobs_never_brings_a_point_back(scheduler: Scheduler) -> None:
    exp = _Experiment(scheduler)
    hand = [exp.add_by_hand() for _ in range(3)]
    points = [exp.claim() for _ in range(2)]
    for job in hand:
        exp.jobs.remove(job)
    points += [exp.claim() for _ in range(3)]
    keys = [(p["x"], p["y"]) for p in points]
    assert len(set(keys)) == 5, keys
    # The hand jobs took points 0-2; the claims got 3, 4, then 5, 6, 7.
    assert points == [_point(scheduler, i) for i in (3, 4, 5, 6, 7)]


@pytest.mark.parametrize("scheduler", _schedulers(), ids=["sobol", "halton", "tpe-startup"])
def test_the_index_never_goes_back_after_any_deletions(scheduler: Scheduler) -> None:
    exp = _Experiment(scheduler)
    seen: list[tuple[float, float]] = []
    rng = random.Random(3)
    for step in range(40):
        if step % 3 == 0:
            exp.add_by_hand()
        if exp.jobs and rng.random() < 0.4:
            exp.jobs.remove(rng.choice(exp.jobs))
        point = exp.claim()
        seen.append((point["x"], point["y"]))
    assert len(set(seen)) == len(seen)


def test_a_search_recorded_before_sequence_next_counts_its_decisions() -> None:
    """An experiment whose decisions stored no ``sequence_next``: the service passes its decision count."""
    search = parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}})
    decision = search.decide(Snapshot((), key=KEY, decisions=6, sequence_next=6), random.Random(0))
    assert decision.job is not None
    assert decision.job.hyperparameters == _point(search, 6)
    assert decision.sequence_next == 7
