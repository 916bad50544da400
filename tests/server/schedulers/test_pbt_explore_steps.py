"""PBT explore keeps a stepped hyperparameter on its distribution's grid (low + k·step), as init draws it."""

from __future__ import annotations

import sys
from typing import Any

from schedy.random import Integer, Uniform
from tests.server.schedulers.test_pbt import exploit_of


def explored(init: dict[str, Any], start: Any, perturb: dict[str, Any], seeds: int = 300) -> list[Any]:
    wire = {"init": {"k": init}, "numParallel": 2, "explore": {"k": {"perturb": perturb}}}
    return [exploit_of({"k": start}, seed, **wire)["k"] for seed in range(seeds)]


def test_a_clipped_integer_with_a_step_gets_only_values_of_its_distribution():
    # Integer(0, 20, step=4) perturbed by [0.5, 2) handed out 11 and 19 before.
    grid = Integer(0, 20, step=4).grid_values()
    for start in grid:
        values = explored(
            {"integer": {"low": 0, "high": 20, "step": 4}}, start, {"minFactor": 0.5, "maxFactor": 2.0, "clip": True}
        )
        assert set(values) <= set(grid), (start, sorted(set(values) - set(grid)))
        assert all(type(v) is int for v in values)
    assert set(
        explored({"integer": {"low": 0, "high": 20, "step": 4}}, 12, {"minFactor": 0.5, "maxFactor": 2.0, "clip": True})
    ) == {8, 12, 16, 20}


def test_without_clip_an_integer_stays_on_its_step_grid_past_the_bounds():
    values = explored({"integer": {"low": 1, "high": 13, "step": 4}}, 13, {"minFactor": 1.0, "maxFactor": 3.0})
    assert all(type(v) is int and (v - 1) % 4 == 0 for v in values)
    assert max(values) > 13  # past high: not clipped
    # The grid stops at a float's range, an integer still.
    huge = explored(
        {"integer": {"low": 1, "high": 13, "step": 4}},
        int(sys.float_info.max),
        {"minFactor": 2.0, "maxFactor": 3.0},
        seeds=3,
    )
    assert all(type(v) is int and (v - 1) % 4 == 0 and v <= int(sys.float_info.max) for v in huge)


def test_a_clipped_uniform_with_a_step_gets_only_its_decimal_values():
    grid = Uniform(0, 1, step=0.1).grid_values()
    assert grid is not None
    for start in (0.3, 0.5, 0.9):
        values = explored(
            {"uniform": {"low": 0, "high": 1, "step": 0.1}}, start, {"minFactor": 0.5, "maxFactor": 2.0, "clip": True}
        )
        assert set(values) <= set(grid), (start, sorted(set(values) - set(grid)))
    values = explored({"uniform": {"low": 0, "high": 1, "step": 0.1}}, 0.9, {"minFactor": 1.0, "maxFactor": 3.0})
    assert max(values) > 1  # not clipped: the grid goes on
    assert all(abs(v * 10 - round(v * 10)) < 1e-9 for v in values)


def test_a_value_of_another_kind_is_left_as_it_was_handled():
    # A float in an integer's place (a job added by hand) is not forced onto the grid, nor an int to a float.
    assert type(explored({"integer": {"low": 0, "high": 20, "step": 4}}, 12.0, {"clip": True}, seeds=1)[0]) is float
    values = explored({"uniform": {"low": 0, "high": 10, "step": 0.5}}, 6, {"clip": True}, seeds=20)
    assert all(type(v) is int for v in values)
