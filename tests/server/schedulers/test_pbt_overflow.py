"""PBT's explore near the edge of a float: what it hands out is always a number a job may hold.

The service refuses a job whose hyperparameters hold an infinity or an integer
past a float's range (1.8e308), so a worker echoing such a hyperparameter in
its update was refused and its job stayed RUNNING. A perturbation past the
range is handed out at its edge, the largest finite float (or integer of that
size); an integer past 2**53 is multiplied exactly.
"""

from __future__ import annotations

import json
import random
import sys
from fractions import Fraction
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.pbt import PBT

FLOAT_MAX = sys.float_info.max
INT_MAX = int(FLOAT_MAX)


def explored(value: Any, seed: int = 0, **perturb: Any) -> Any:
    """The value of ``x`` member a gets when it exploits b, whose ``x`` is ``value``."""
    pbt = PBT.from_params({"objective": "max", "qualityResultName": "score", "explore": {"x": {"perturb": perturb}}})
    jobs = (
        JobView("j0", "DONE", {"x": value}, {"score": 0.0}, 0.0, finished_at=0.5, member="a", generation=1),
        JobView("j1", "DONE", {"x": value}, {"score": 1.0}, 1.0, finished_at=1.5, member="b", generation=1),
    )
    decision = pbt.decide(Snapshot(jobs, now=2.0), random.Random(seed))
    assert decision.job is not None
    assert decision.events
    return decision.job.hyperparameters["x"]


def test_a_float_perturbed_past_the_largest_float_is_handed_out_as_the_largest_float() -> None:
    assert explored(1.7e308, minFactor=1.1, maxFactor=1.2) == FLOAT_MAX
    assert explored(-1.7e308, minFactor=1.1, maxFactor=1.2) == -FLOAT_MAX


def test_an_integer_perturbed_past_a_floats_range_stays_an_integer_at_its_edge() -> None:
    new = explored(17 * 10**307, minFactor=1.1, maxFactor=1.2)
    assert type(new) is int
    assert new == INT_MAX
    assert explored(-(17 * 10**307), minFactor=1.1, maxFactor=1.2) == -INT_MAX


def test_an_integer_past_two_to_the_53_is_multiplied_exactly() -> None:
    for seed in range(20):
        factor = explored(1.0, seed)  # the same draws: 1.0 · factor is the factor itself
        value = 10**20 + 1
        assert explored(value, seed) == round(Fraction(value) * Fraction(factor))


@settings(deadline=None)
@given(
    value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-INT_MAX, INT_MAX)),
    low=st.floats(0, 1e300),
    high=st.floats(0, 1e300),
    seed=st.integers(0, 2**32),
)
def test_explore_always_hands_out_a_number_within_a_floats_range(
    value: float, low: float, high: float, seed: int
) -> None:
    assume(low < high)
    new = explored(value, seed, minFactor=low, maxFactor=high)
    assert type(new) is type(value)
    assert abs(new) <= FLOAT_MAX
    json.dumps(new, allow_nan=False)  # what the service and the worker's update can carry
