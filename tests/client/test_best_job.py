"""``Experiment.best_job``: the best DONE job by the declared or a named objective, through the real service."""

from __future__ import annotations

import math

import pytest

import schedy
from schedy import pbt
from schedy.random import Uniform
from schedy.stopping import ASHA

SPACE = {"x": Uniform(0, 1)}


def _finish(exp: schedy.Experiment, status: str = schedy.Job.DONE, **results: object) -> schedy.Job:
    return exp.add_job(hyperparameters={"x": 0.5}, status=status, results=dict(results))


def test_a_tpe_search_ranks_by_its_own_objective_and_only_finite_done_values(db: schedy.SchedyDB) -> None:
    exp = schedy.TPESearch("tpe-best", SPACE, schedy.MINIMIZE, "loss")
    db.add_experiment(exp)
    assert exp.best_job() is None  # nothing finished yet
    _finish(exp, loss=0.5)
    good = _finish(exp, loss=0.2)
    _finish(exp, loss=0.2)  # a tie: the oldest wins
    _finish(exp, loss=math.nan)
    _finish(exp, loss=-math.inf)  # a diverged value never wins
    _finish(exp, loss="low")
    _finish(exp, accuracy=0.9)  # no loss at all
    _finish(exp, schedy.Job.PRUNED, loss=0.01)  # partial results: not a finished job
    _finish(exp, schedy.Job.CRASHED, loss=0.001)
    with exp.next_job() as running:
        running.results["loss"] = 0.1
        best = db.get_experiment("tpe-best").best_job()  # read back from the service: the declared objective
        assert best is not None
        assert best.job_id == good.job_id
        assert best.results == {"loss": 0.2}
    assert exp.best_job().job_id == running.job_id  # DONE now, and better
    best_accuracy = exp.best_job("accuracy", "max")
    assert best_accuracy is not None
    assert best_accuracy.results == {"accuracy": 0.9}
    assert exp.best_job("loss", "max").results == {"loss": 0.5}


def test_pbt_and_early_stopping_declare_objectives_and_other_searches_must_name_one(db: schedy.SchedyDB) -> None:
    population = schedy.PopulationBasedTraining(
        "pbt-best", pbt.MAXIMIZE, "accuracy", pbt.Truncate(), {"x": pbt.Perturb()}, SPACE, population_size=2
    )
    db.add_experiment(population)
    assert db.get_experiment("pbt-best").declared_objective() == ("accuracy", "max")
    stopped = schedy.RandomSearch("asha-best", SPACE, early_stopping=ASHA("acc", "max"))
    db.add_experiment(stopped)
    _finish(stopped, acc=0.3)
    high = _finish(stopped, acc=0.7)
    assert db.get_experiment("asha-best").best_job().job_id == high.job_id
    plain = schedy.RandomSearch("plain-best", SPACE)
    db.add_experiment(plain)
    assert plain.declared_objective() is None
    with pytest.raises(ValueError, match="declares no objective: name the result and its direction"):
        plain.best_job()
    with pytest.raises(ValueError, match="objective='min' or 'max'"):
        plain.best_job("loss")
    with pytest.raises(ValueError, match="objective='min' or 'max'"):
        stopped.best_job("loss")  # another result than the declared one: its direction is unknown
    with pytest.raises(ValueError, match="not 'lowest'"):
        plain.best_job("loss", "lowest")
