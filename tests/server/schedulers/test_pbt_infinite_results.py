"""PBT ranks an infinite objective as a diverged run (worst, as NaN), never as the member to copy (rule 5)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from schedy.pbt import MAXIMIZE, MINIMIZE, is_worse
from schedy.server.schedulers.base import Decision
from tests.server.schedulers.test_pbt import Jobs, make_pbt


def population(first: str, scores: dict[str, Any]) -> Jobs:
    """Generation-1 members with these scores; ``first`` finished earliest, so it is the one chosen (rule 3)."""
    jobs = Jobs()
    for member in sorted(scores, key=lambda m: m != first):
        jobs.add(hps={"lr": 0.1}, results={"score": scores[member]}, member=member, generation=1)
    return jobs


def decide_for(objective: str, first: str, scores: dict[str, Any]) -> Decision:
    pbt = make_pbt(objective=objective, exploit={"truncate": 0.25})
    return pbt.decide(population(first, scores).snapshot(), random.Random(0))


@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_a_member_reporting_the_best_infinity_is_never_copied_and_exploits_the_best_real_member(objective, sign):
    # "diverged" reports +inf on max (-inf on min): the best number there is, but a diverged run.
    scores = {"d": sign * 0.1, "diverged": sign * math.inf, "a": sign * 0.9, "b": sign * 0.5}
    for first in scores:
        decision = decide_for(objective, first, scores)
        assert decision.job is not None
        sources = [event["sourceMember"] for event in decision.events]
        assert "diverged" not in sources, (first, sources)
        if first == "diverged":  # it ranks last: it copies the best real member
            assert sources == ["a"]
        else:
            assert sources == []  # with k = 1, only the last (the diverged one) exploits


@pytest.mark.parametrize("objective", [MAXIMIZE, MINIMIZE])
def test_infinities_of_either_sign_are_worse_than_any_finite_objective(objective):
    for bad in (math.inf, -math.inf, math.nan, None):
        assert is_worse(bad, -1e308, objective)
        assert is_worse(bad, 1e308, objective)
        assert not is_worse(1e308, bad, objective)
        for other in (math.inf, -math.inf, math.nan, None):
            assert not is_worse(bad, other, objective)
