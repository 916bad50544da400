"""A choice's weights as a user builds them: refused at once when sampling could not use them."""

from __future__ import annotations

import random

import pytest

from schedy.errors import DefinitionError
from schedy.random import Choice, sample_space


def test_weights_whose_sum_is_past_a_float_are_refused_when_the_choice_is_built() -> None:
    with pytest.raises(DefinitionError, match=r"weights that sum to at most 1\.8e308 \(scale them down\)"):
        Choice([1, 2], [1e308, 1e308])


def test_the_largest_weights_that_sum_to_a_float_are_sampled_in_proportion() -> None:
    choice = Choice(["a", "b"], [1.2e308, 0.4e308])
    draws = [choice.sample(random.Random(seed)) for seed in range(400)]
    assert 250 < draws.count("a") < 350


def test_subnormal_weights_are_sampled_and_a_zero_weight_never_is() -> None:
    space = {"c": Choice(["a", "never", "b"], [5e-324, 0.0, 5e-324])}
    draws = {sample_space(space, random.Random(seed))["c"] for seed in range(200)}
    assert draws == {"a", "b"}
    assert {space["c"].from_unit(u / 100) for u in range(100)} == {"a", "b"}
