"""numpy values (and other numbers) in search spaces, grids and report steps, real service (SQLite and PostgreSQL).

``np.arange`` / ``np.linspace`` / ``np.logspace`` are the usual way to write a
sweep, and a numpy counter the usual step: they are taken as the plain
numbers they hold, and the service stores and hands out plain numbers.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import schedy
from schedy import errors
from schedy.random import Choice, Constant, Integer, LogUniform, Normal, Uniform

#: The largest step a report may have (2**62 - 1), as the error messages state it.
LARGEST_STEP = 4611686018427387903


def _all_jobs(exp: schedy.Experiment) -> list[dict[str, Any]]:
    """The hyperparameters of every job the search hands out, until it has none left."""
    handed = []
    while True:
        try:
            with exp.next_job() as job:
                handed.append(dict(job.hyperparameters))
                job.results["loss"] = 0.0
        except errors.NoJobError:
            return handed


def _types(values: Any) -> list[type]:
    return [type(v) for v in values]


# -- defect 1: numpy values in a grid or a space ---------------------------------


def test_a_grid_of_numpy_values_hands_out_each_cell_once_as_plain_numbers(db):
    exp = schedy.GridSearch(
        "np-grid",
        {"layers": list(np.arange(1, 4)), "lr": list(np.logspace(-3, -1, 3)), "units": np.array([32, 64])},
    )
    db.add_experiment(exp)

    stored = db.get_experiment("np-grid")
    assert isinstance(stored, schedy.GridSearch)
    assert stored.grid["layers"] == [1, 2, 3]
    assert _types(stored.grid["layers"]) == [int, int, int]
    assert _types(stored.grid["units"]) == [int, int]
    assert _types(stored.grid["lr"]) == [float, float, float]

    handed = _all_jobs(stored)
    cells = [(h["layers"], h["lr"], h["units"]) for h in handed]
    expected = itertools.product([1, 2, 3], [0.001, 0.01, 0.1], [32, 64])
    assert sorted(cells) == sorted(expected)  # each cell exactly once
    assert {type(h["layers"]) for h in handed} == {int}
    assert {type(h["units"]) for h in handed} == {int}
    assert {type(h["lr"]) for h in handed} == {float}


def test_numpy_values_and_bounds_in_a_random_space_are_handed_out_as_plain_numbers(db):
    space = {
        "layers": Integer(np.int64(1), np.int32(10), step=np.int64(3)),
        "width": Integer(np.uint16(16), 1024, log=np.bool_(True)),
        "dropout": Uniform(np.float32(0), np.int64(1), step=np.float64(0.25)),
        "lr": LogUniform(np.float64(1e-4), np.int64(1)),
        "init": Normal(np.int64(0), np.float32(0.5)),
        "heads": Choice(list(np.arange(1, 4)), weights=list(np.ones(3))),
        "seed": Constant(np.int64(7)),
    }
    exp = schedy.RandomSearch("np-space", space)
    db.add_experiment(exp)

    stored = db.get_experiment("np-space")
    assert isinstance(stored, schedy.RandomSearch)
    distributions = stored.distributions
    assert distributions["layers"] == Integer(1, 10, step=3)
    assert distributions["width"] == Integer(16, 1024, log=True)
    assert distributions["heads"] == Choice([1, 2, 3], weights=[1.0, 1.0, 1.0])
    assert distributions["seed"] == Constant(7)

    for _ in range(5):
        with exp.next_job() as job:
            hp = job.hyperparameters
            assert hp["layers"] in (1, 4, 7, 10)
            assert 16 <= hp["width"] <= 1024
            assert hp["heads"] in (1, 2, 3)
            assert [type(hp[name]) for name in ("layers", "width", "heads", "seed")] == [int] * 4
            assert hp["dropout"] in (0.0, 0.25, 0.5, 0.75, 1.0)
            assert 1e-4 <= hp["lr"] < 1
            assert hp["seed"] == 7


def test_a_tpe_space_of_numpy_values_hands_out_plain_numbers(db):
    exp = schedy.TPESearch(
        "np-tpe",
        {"dropout": Choice(list(np.linspace(0, 0.5, 3))), "depth": Integer(np.int8(2), np.int8(4))},
        "min",
        "loss",
    )
    db.add_experiment(exp)
    with exp.next_job() as job:
        assert job.hyperparameters["dropout"] in (0.0, 0.25, 0.5)
        assert type(job.hyperparameters["depth"]) is int


def test_the_definition_objects_hold_plain_numbers():
    # What a user prints or compares: Integer(1, 10), not Integer(np.int64(1), …).
    assert repr(Integer(np.int64(1), np.int64(10))) == "Integer(low=1, high=10, step=1, log=False)"
    assert _types(Choice(list(np.arange(3))).values) == [int, int, int]
    assert Choice(np.arange(3)) == Choice([0, 1, 2])
    assert type(Constant(np.float32(0.5)).value) is float
    assert Uniform(Fraction(1, 4), Fraction(3, 4)).bounds() == (0.25, 0.75)
    assert Integer(Fraction(2), 5).low == 2


def test_torch_scalars_are_taken_as_the_numbers_they_hold():
    torch = pytest.importorskip("torch")
    assert Integer(torch.tensor(1), torch.tensor(5)) == Integer(1, 5)
    assert Uniform(torch.tensor(0.0), torch.tensor(2.0)) == Uniform(0, 2)
    grid = schedy.GridSearch("torch-grid", {"layers": [torch.tensor(1), torch.tensor(2)]})._to_wire()
    assert grid["scheduler"]["GridSearch"] == {"layers": [1, 2]}


def test_a_grid_value_json_cannot_hold_is_refused_naming_its_hyperparameter():
    with pytest.raises(errors.DefinitionError, match="GridSearch hyperparameter 'layers' must be JSON values"):
        schedy.GridSearch("bad-grid", {"lr": [0.1], "layers": [1, object()]})


def test_numpy_values_that_are_not_numbers_are_still_refused():
    with pytest.raises(errors.DefinitionError, match=r"low must be an integer, got np\.float64"):
        Integer(np.float64(1.5), 3)
    with pytest.raises(errors.DefinitionError, match="low must be a number"):
        Uniform(np.bool_(False), 1)
    with pytest.raises(errors.DefinitionError, match="low must be a number"):
        Uniform(np.array([0.0, 1.0]), 2)
    with pytest.raises(errors.DefinitionError, match="must hold finite numbers only"):
        Choice([np.float64("nan"), 1.0])


# -- defect 2: report steps ----------------------------------------------------------


def test_numpy_integer_steps_are_reported_as_plain_integers(db):
    exp = schedy.ManualSearch("np-steps")
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"a": 1})
    with exp.next_job() as job:
        assert job.report(np.int64(3), loss=np.float32(0.5)) is False
        assert job.report(np.arange(5)[4], loss=0.4) is False
        assert job.report_many([(np.int32(5), {"loss": 0.3}), (np.uint64(6), {"loss": 0.2})]) is False
        with job.buffered_reports(every=0) as reports:
            assert reports.report(np.int16(7), loss=0.1) is False
        job.results["loss"] = 0.1
    steps = [r["step"] for r in exp.get_job(job.job_id).reports()]
    assert steps == [3, 4, 5, 6, 7]
    assert _types(steps) == [int] * 5


def test_the_largest_step_is_taken_and_a_larger_one_refused_stating_the_limit(db):
    exp = schedy.ManualSearch("big-steps")
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"a": 1})
    refusal = f"A report needs a non-negative integer step (e.g. the epoch) of at most {LARGEST_STEP}, not "
    with exp.next_job() as job:
        assert job.report(np.uint64(LARGEST_STEP), loss=0.5) is False
        for step in (2**62, np.uint64(2**62), -1, True, 1.0):
            with pytest.raises(ValueError, match="non-negative integer step") as refused:
                job.report(step, loss=0.5)  # type: ignore[arg-type]
            assert str(refused.value).startswith(refusal)
        with pytest.raises(ValueError, match=f"of at most {LARGEST_STEP}, not 4611686018427387904"):
            job.report_many([(1, {"loss": 0.5}), (2**62, {"loss": 0.5})])
        with job.buffered_reports(every=60) as reports, pytest.raises(ValueError, match=f"of at most {LARGEST_STEP}"):
            reports.report(2**62, loss=0.5)

        # The service says the same when a step past the limit reaches it (another client, curl).
        with pytest.raises(errors.ClientRequestError) as told:
            db._transport.request("POST", job._path() + "reports/", {"step": 2**62, "metrics": {"loss": 0.5}})
        assert refusal + "4611686018427387904." in str(told.value)
        job.results["loss"] = 0.5
    assert [r["step"] for r in exp.get_job(job.job_id).reports()] == [LARGEST_STEP]
