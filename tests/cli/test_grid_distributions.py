"""``schedy add NAME grid``: VALUES may be a distribution with finitely many values, written as ``random`` takes it."""

from __future__ import annotations

import pytest

import schedy
from schedy.random import Integer


def test_add_grid_takes_an_integer_range_and_a_choice_in_the_short_form(cli):
    cli.ok("add", "e2", "grid", "layers", "integer", "1", "4", "act", "choice", '["relu", "tanh"]', "lr", "[0.1]")
    with cli.db() as db:
        exp = db.get_experiment("e2")
        assert isinstance(exp, schedy.GridSearch)
        cells = []
        for job in exp.jobs():
            with job:
                cells.append((job.hyperparameters["layers"], job.hyperparameters["act"], job.hyperparameters["lr"]))
                job.results["loss"] = 1.0
    assert sorted(cells) == sorted((n, act, 0.1) for n in (1, 2, 3, 4) for act in ("relu", "tanh"))
    assert "cells: 8" in cli.ok("show", "e2").splitlines()


def test_add_grid_takes_a_stepped_integer_in_the_wire_form_and_negative_bounds():
    from schedy.cli.add import parse_grid_args

    grid = parse_grid_args(["n", "integer", '{"low": 0, "high": 8, "step": 2}', "k", "integer", "-2", "2"])
    assert grid == {"n": Integer(0, 8, step=2), "k": Integer(-2, 2)}
    assert schedy.GridSearch("g", grid)._to_wire()["scheduler"]["GridSearch"] == {
        "n": {"integer": {"low": 0, "high": 8, "step": 2}},
        "k": {"integer": {"low": -2, "high": 2}},
    }


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ["lr", "uniform", "0", "1"],
            "Hyperparameter 'lr': a grid cannot enumerate the continuous uniform distribution",
        ),
        (["lr", "loguniform", "1e-5", "0.1"], "a grid cannot enumerate the continuous loguniform distribution"),
        (["layers", "integer", "1"], "Hyperparameter 'layers': integer takes 2 numbers (low, high)."),
        (["layers", "integer", "1", "4", "layers", "[5]"], "The hyperparameter 'layers' is given twice."),
    ],
)
def test_add_grid_refuses_a_distribution_without_a_list_of_values_in_one_sentence(offline, words, message):
    done = offline("add", "e2", "grid", *words)
    assert done.returncode == 2
    assert message in done.stderr
    assert "not valid JSON" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
