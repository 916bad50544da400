"""Experiment definitions and their wire form (no service needed)."""

from __future__ import annotations

import pytest

import schedy
from schedy import errors, pbt
from schedy._experiments import experiment_from_wire
from schedy.random import Choice, LogUniform, Uniform


def test_manual_search_wire_form() -> None:
    assert schedy.ManualSearch("M")._to_wire() == {"status": "RUNNING", "scheduler": {"Manual": None}}


def test_random_search_wire_form_and_round_trip() -> None:
    exp = schedy.RandomSearch("R", {"lr": LogUniform(1e-5, 0.1), "act": Choice(["relu", "tanh"])}, status="DONE")
    wire = exp._to_wire()
    assert wire == {
        "status": "DONE",
        "scheduler": {
            "RandomSearch": {
                "lr": {"loguniform": {"low": 1e-5, "high": 0.1}},
                "act": {"choice": {"values": ["relu", "tanh"]}},
            }
        },
    }
    back = experiment_from_wire({"name": "R", **wire})
    assert isinstance(back, schedy.RandomSearch)
    assert back == exp


def test_pbt_wire_form_and_round_trip() -> None:
    exp = schedy.PopulationBasedTraining(
        "P",
        pbt.MAXIMIZE,
        "accuracy",
        pbt.Truncate(0.25),
        explore={"lr": pbt.Perturb(0.5, 2.0)},
        initial_distributions={"lr": Uniform(0.01, 0.1)},
        population_size=8,
        max_generations=5,
    )
    params = exp._to_wire()["scheduler"]["PBT"]
    assert params == {
        "objective": "max",
        "qualityResultName": "accuracy",
        "exploit": {"truncate": 0.25},
        "explore": {"lr": {"perturb": {"minFactor": 0.5, "maxFactor": 2.0}}},
        "init": {"lr": {"uniform": {"low": 0.01, "high": 0.1}}},
        "numParallel": 8,
        "maxGenerations": 5,
    }
    back = experiment_from_wire({"name": "P", "status": "RUNNING", "scheduler": {"PBT": params}})
    assert isinstance(back, schedy.PopulationBasedTraining)
    assert back == exp
    assert (back.objective, back.result_name, back.population_size, back.max_generations) == ("max", "accuracy", 8, 5)
    assert back.explore == {"lr": pbt.Perturb(0.5, 2.0)}


@pytest.mark.parametrize(
    "make",
    [
        lambda: schedy.ManualSearch(""),
        lambda: schedy.ManualSearch("M", status="PAUSED"),
        lambda: schedy.RandomSearch("R", {"lr": {"uniform": {"low": 0, "high": 1}}}),  # type: ignore[dict-item]
        lambda: schedy.PopulationBasedTraining("P", "best", "acc", pbt.Truncate()),
        lambda: schedy.PopulationBasedTraining("P", "max", "acc", pbt.Truncate(), explore={"lr": 1.2}),  # type: ignore[dict-item]
        lambda: schedy.PopulationBasedTraining(
            "P", "max", "acc", pbt.Truncate(), initial_distributions={"lr": Uniform(0, 1)}
        ),
    ],
)
def test_invalid_definitions_raise_definition_error_at_construction(make: object) -> None:
    with pytest.raises(errors.DefinitionError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        # PopulationBasedTraining(name, objective, result_name, ...) taught the order: TPE's space comes first.
        (lambda: schedy.TPESearch("T", "min", "loss", {"x": Uniform(0, 1)}), "TPESearch's distributions must be"),
        (lambda: schedy.RandomSearch("R", "min"), "RandomSearch's distributions must be"),
        (lambda: schedy.GridSearch("G", ["sgd", "adam"]), "GridSearch's grid must be"),
        (
            lambda: schedy.PopulationBasedTraining("P", "max", "acc", pbt.Truncate(), explore=["lr"]),
            "PopulationBasedTraining's explore must be",
        ),
    ],
)
def test_arguments_in_the_wrong_order_are_told_in_a_sentence(make: object, expected: str) -> None:
    """Not ``ValueError: dictionary update sequence element #0 has length 1`` from inside ``dict()``."""
    with pytest.raises(errors.DefinitionError) as info:
        make()  # type: ignore[operator]
    assert str(info.value).startswith(expected)
    assert "signature" in str(info.value)


def test_a_plain_experiment_cannot_be_created_remotely() -> None:
    with pytest.raises(errors.DefinitionError, match="ManualSearch, RandomSearch"):
        schedy.Experiment("X")._to_wire()


def test_an_unknown_scheduler_is_kept_as_it_is() -> None:
    data = {"name": "X", "status": "RUNNING", "scheduler": {"TPE": {"startup": 10}}, "seed": 3, "createdAt": "t"}
    exp = experiment_from_wire(data)
    assert type(exp) is schedy.Experiment
    assert exp.extra == {"seed": 3, "createdAt": "t"}
    assert exp._to_wire() == {"seed": 3, "createdAt": "t", "status": "RUNNING", "scheduler": {"TPE": {"startup": 10}}}


def test_parameters_this_client_cannot_read_are_kept_as_they_are() -> None:
    params = {"x": {"beta": {"a": 1, "b": 2}}}
    exp = experiment_from_wire({"name": "X", "status": "RUNNING", "scheduler": {"RandomSearch": params}})
    assert type(exp) is schedy.Experiment
    assert exp._to_wire()["scheduler"] == {"RandomSearch": params}


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"name": "X"},
        {"name": "X", "status": "PAUSED", "scheduler": {"Manual": None}},
        {"name": "X", "status": "RUNNING", "scheduler": {"A": 1, "B": 2}},
    ],
)
def test_what_is_not_an_experiment_is_refused(data: object) -> None:
    with pytest.raises(errors.UnhandledResponseError):
        experiment_from_wire(data)


def test_an_unbound_experiment_says_how_to_bind_it() -> None:
    with pytest.raises(errors.SchedyError, match="add_experiment"):
        schedy.ManualSearch("M").next_job()


def test_experiments_compare_by_definition() -> None:
    assert schedy.ManualSearch("M") == schedy.ManualSearch("M")
    assert schedy.ManualSearch("M") != schedy.ManualSearch("M", status="DONE")
    assert schedy.ManualSearch("M") != schedy.ManualSearch("N")
    assert "ManualSearch(name='M'" in repr(schedy.ManualSearch("M"))
