"""Search spaces: integers, stepped uniforms, conditional branches (schedy.random)."""

from __future__ import annotations

import random

import pytest

from schedy.errors import DefinitionError
from schedy.random import (
    Choice,
    Constant,
    Integer,
    LogUniform,
    Normal,
    Uniform,
    check_space,
    flatten_space,
    parse_distribution,
    parse_distributions,
    sample_space,
    space_from_unit,
)

SPACE = {
    "optimizer": Choice(
        ["sgd", "adam"],
        branches={"sgd": {"momentum": Uniform(0, 0.9, step=0.1), "nesterov": Choice([True, False])}},
    ),
    "layers": Integer(1, 8),
    "width": Integer(16, 1024, log=True),
}


def test_the_five_original_wire_forms_are_unchanged():
    for wire in (
        {"uniform": {"low": 0.0, "high": 1.0}},
        {"loguniform": {"low": 1e-5, "high": 0.1}},
        {"normal": {"mean": 0.0, "std": 1.0}},
        {"choice": {"values": [1, "a"], "weights": [1.0, 2.0]}},
        {"const": [1, 2]},
    ):
        assert parse_distribution(wire, "x").to_wire() == wire


def test_integer_round_trips_and_samples_integers_in_range():
    d = Integer(1, 9, step=2)
    assert d.to_wire() == {"integer": {"low": 1, "high": 9, "step": 2}}
    assert parse_distribution(d.to_wire(), "n") == d
    assert parse_distribution({"integer": {"low": 1.0, "high": 3}}, "n") == Integer(1, 3)
    rng = random.Random(0)
    values = [d.sample(rng) for _ in range(500)]
    assert set(values) == {1, 3, 5, 7, 9}
    assert all(isinstance(v, int) for v in values)


def test_log_integer_favours_small_values_and_reaches_both_ends():
    d = Integer(1, 1000, log=True)
    assert d.to_wire() == {"integer": {"low": 1, "high": 1000, "log": True}}
    rng = random.Random(1)
    values = [d.sample(rng) for _ in range(3000)]
    assert min(values) == 1
    assert max(values) > 900
    assert 0.4 < sum(v < 32 for v in values) / len(values) < 0.6  # 32 ~ sqrt(1000)


def test_stepped_uniform_hits_the_grid_including_high():
    d = Uniform(0, 1, step=0.25)
    assert d.to_wire() == {"uniform": {"low": 0.0, "high": 1.0, "step": 0.25}}
    rng = random.Random(2)
    assert {d.sample(rng) for _ in range(300)} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert d.grid_values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert Uniform(0, 1).grid_values() is None


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"integer": {"low": 0.5, "high": 3}}, "low must be an integer"),
        ({"integer": {"low": 1, "high": "3"}}, "high must be an integer"),
        ({"integer": {"low": 3, "high": 1}}, "needs low <= high"),
        ({"integer": {"low": 0, "high": 10, "log": True}}, "with log needs 0 < low"),
        ({"integer": {"low": 1, "high": 10, "step": 4}}, "multiple of step"),
        ({"integer": {"low": 1, "high": 9, "step": 2, "log": True}}, "with log needs step 1"),
        ({"integer": {"low": 1, "high": 9, "step": 0}}, "needs step >= 1"),
        ({"integer": {"low": 1, "high": 9, "log": 1}}, "log must be true or false"),
        ({"integer": {"low": 1, "high": 9, "base": 2}}, "unknown key(s) 'base'"),
        ({"uniform": {"low": 0, "high": 1, "step": 0.3}}, "multiple of step"),
        ({"uniform": {"low": 0, "high": 1, "step": -1}}, "needs step > 0"),
        ({"loguniform": {"low": 0, "high": 1}}, "needs 0 < low"),
        (
            {"choice": {"values": ["sgd", "adam"], "branches": {"rmsprop": {"m": {"const": 1}}}}},
            "branch 'rmsprop' naming no value of the choice",
        ),
        ({"choice": {"values": ["a"], "branches": {"a": [1]}}}, "must be an object mapping"),
        ({"choice": {"values": ["a"], "branches": {"a": {"m": {"bogus": 1}}}}}, "unknown distribution 'bogus'"),
        ({"choice": {"values": ["1", 1], "branches": {"1": {"m": {"const": 1}}}}}, "told apart"),
    ],
)
def test_bad_spaces_are_refused_in_one_sentence(wire, message):
    with pytest.raises(DefinitionError) as info:
        parse_distributions({"x": wire}, "space")
    text = str(info.value)
    assert message in text
    assert text.count(". ") == 0
    assert text.endswith(".")


def test_a_name_used_twice_across_branches_is_refused():
    wire = {
        "opt": {"choice": {"values": ["a", "b"], "branches": {"a": {"lr": {"const": 1}}}}},
        "lr": {"const": 2},
    }
    with pytest.raises(DefinitionError, match="'lr' is defined twice"):
        parse_distributions(wire, "space")


def test_nesting_is_bounded():
    wire: dict = {"const": 1}
    for level in range(12):
        wire = {"choice": {"values": ["x"], "branches": {"x": {f"h{level}": wire}}}}
    with pytest.raises(DefinitionError, match="nest deeper"):
        parse_distributions({"top": wire}, "space")


def test_conditional_branches_round_trip_and_sample_only_when_taken():
    wire = {name: d.to_wire() for name, d in SPACE.items()}
    assert wire["optimizer"]["choice"]["branches"]["sgd"]["momentum"] == {
        "uniform": {"low": 0.0, "high": 0.9, "step": 0.1}
    }
    assert parse_distributions(wire, "space") == SPACE
    rng = random.Random(3)
    jobs = [sample_space(SPACE, rng) for _ in range(200)]
    for hps in jobs:
        check_space(hps, SPACE, "a job")
        assert ("momentum" in hps) == (hps["optimizer"] == "sgd")
        assert ("nesterov" in hps) == (hps["optimizer"] == "sgd")
    assert 60 < sum(h["optimizer"] == "sgd" for h in jobs) < 140


def test_branches_of_non_string_values_are_named_by_their_json():
    d = Choice([1, True], branches={True: {"a": Constant(1)}, "1": {"b": Constant(2)}})
    assert set(d.to_wire()["choice"]["branches"]) == {"true", "1"}
    assert d.branch(True) == {"a": Constant(1)}
    assert d.branch(1) == {"b": Constant(2)}


def test_without_branches_sampling_a_space_draws_like_before():
    space = {"u": Uniform(0, 1), "n": Normal(0, 1), "c": Choice([1, 2, 3]), "l": LogUniform(1e-3, 1)}
    a, b = random.Random(5), random.Random(5)
    assert sample_space(space, a) == {name: d.sample(b) for name, d in space.items()}


def test_check_space_names_missing_and_unknown():
    with pytest.raises(DefinitionError, match="missing 'momentum', 'nesterov'; unknown 'beta'"):
        check_space({"optimizer": "sgd", "layers": 1, "width": 16, "beta": 1}, SPACE, "A job")
    check_space({"optimizer": "adam", "layers": 1, "width": 16}, SPACE, "A job")


def test_unit_cube_points_map_into_the_space():
    flat = flatten_space(SPACE)
    assert [p.name for p in flat] == ["optimizer", "momentum", "nesterov", "layers", "width"]
    assert space_from_unit(flat, [0.1, 0.999, 0.6, 0.0, 0.99999]) == {
        "optimizer": "sgd",
        "momentum": 0.9,
        "nesterov": False,
        "layers": 1,
        "width": 1024,
    }
    assert space_from_unit(flat, [0.9, 0.5, 0.5, 0.5, 0.0]) == {"optimizer": "adam", "layers": 5, "width": 16}
    assert -3 < Normal(0, 1).from_unit(0.5) + 0.0 < 3
    assert Choice(["a", "b"], weights=[0.0, 1.0]).from_unit(0.0) == "b"


@pytest.mark.parametrize("make", [lambda: Choice([1, object()]), lambda: Constant({"f": print})])
def test_a_value_json_cannot_hold_is_refused_at_definition(make):
    # Before, it was accepted here and failed later, when the experiment was sent, with the encoder's TypeError.
    with pytest.raises(DefinitionError, match="must be JSON values"):
        make()


def test_numpy_values_are_json_values():
    import numpy as np

    assert Choice([np.int64(3), np.float32(0.5)]).values == [3, 0.5]


def test_a_random_search_refuses_a_name_used_twice_across_branches_at_definition():
    import schedy

    space = {"opt": Choice(["a", "b"], branches={"a": {"lr": Constant(1)}}), "lr": Constant(2)}
    with pytest.raises(DefinitionError, match="'lr' is defined twice"):
        schedy.RandomSearch("twice", space)
