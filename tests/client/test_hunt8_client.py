"""The worker loop's ``idle_timeout`` and ``add_experiment``'s refusals and races, against the real service.

Over real HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

import schedy
from schedy import errors, pbt
from schedy.random import LogUniform, Uniform
from schedy.stopping import ASHA


def test_a_worker_loop_ends_after_its_idle_timeout_while_another_worker_holds_the_only_job(
    db: schedy.SchedyDB,
) -> None:
    """A worker told to give up after half a second without work does so, not after the claim's 20 s poll."""
    exp = db.add_experiment(schedy.ManualSearch("idle"))
    exp.add_job(hyperparameters={"x": 1})
    held = exp.next_job()  # another worker's: RUNNING, so the loop waits, as it might be queued again
    start = time.monotonic()
    assert list(exp.jobs(idle_timeout=0.5)) == []
    assert 0.5 <= time.monotonic() - start < 3.0
    with held:
        held.results["loss"] = 1.0


def test_exist_ok_creates_an_experiment_deleted_between_its_refusal_and_its_read(
    db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process deletes the experiment just after the create was refused: the name is free, so it is made."""
    old = db.add_experiment(schedy.ManualSearch("raced"))
    old.add_job(hyperparameters={"x": 1})
    read = db.get_experiment
    deleted = []

    def read_after_a_delete(name: str) -> schedy.Experiment:
        if not deleted:
            deleted.append(name)
            old.delete()
        return read(name)

    monkeypatch.setattr(db, "get_experiment", read_after_a_delete)
    exp = db.add_experiment(schedy.ManualSearch("raced"), exist_ok=True)
    monkeypatch.undo()
    assert deleted == ["raced"]
    exp.add_job(hyperparameters={"x": 2})  # bound: the worker goes on with it
    assert [job.hyperparameters for job in db.get_experiment("raced").all_jobs()] == [{"x": 2}]


def test_refusing_a_taken_name_says_how_to_use_the_experiment(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("taken"))
    with pytest.raises(errors.ResourceExistsError) as info:
        db.add_experiment(schedy.ManualSearch("taken"))
    assert str(info.value) == (
        "An experiment named 'taken' already exists: pass exist_ok=True to use it if it is defined the same, "
        "or read it with db.get_experiment('taken')."
    )


def _tpe(low: float = 1e-5, **options: Any) -> schedy.TPESearch:
    return schedy.TPESearch("e", {"lr": LogUniform(low, 0.1)}, schedy.MINIMIZE, "loss", **options)


def _pbt(high: float = 1.2, population_size: int = 4) -> schedy.PopulationBasedTraining:
    explore = {"lr": pbt.Perturb(0.8, high)}
    init = {"lr": Uniform(0.01, 0.1)}
    return schedy.PopulationBasedTraining(
        "e", pbt.MINIMIZE, "loss", pbt.Truncate(0.25), explore, init, population_size=population_size
    )


_ASHA = ASHA("loss", "min", min_step=1, reduction_factor=3)
_RANDOM = schedy.RandomSearch("e", {"lr": LogUniform(1e-5, 0.1)})


@pytest.mark.parametrize(
    ("stored", "edited", "kept"),
    [
        (_tpe(max_jobs=10), _tpe(low=1e-4, max_jobs=20, seed=3), 1),
        (_RANDOM, schedy.RandomSearch("e", {"lr": Uniform(0, 1)}, sampler="sobol", early_stopping=_ASHA), 1),
        (schedy.GridSearch("e", {"x": [1, 2]}), schedy.GridSearch("e", {"x": [1, 2, 3]}, max_retries=2), 1),
        (_pbt(), _pbt(high=1.5, population_size=6), 1),
        (_tpe(), _RANDOM, 0),  # another kind of search: deleted with its jobs, then added
    ],
    ids=["tpe", "random", "grid", "pbt", "kind"],
)
def test_the_exist_ok_refusal_says_how_to_replace_the_definition_and_following_it_works(
    db: schedy.SchedyDB, stored: schedy.Experiment, edited: schedy.Experiment, kept: int
) -> None:
    """The lines the refusal writes out, run as written, give the service the edited definition."""
    db.add_experiment(stored)
    with stored.next_job() as job:
        job.results["loss"] = 0.5
    with pytest.raises(errors.ResourceExistsError) as info:
        db.add_experiment(edited, exist_ok=True)
    advice = re.search(r"\(db\.get_experiment\('e'\)\), [^(]*\((.*)\), or choose another name\.$", str(info.value))
    assert advice is not None, str(info.value)
    exec(advice.group(1), {"db": db, "exp": edited})  # noqa: S102 - the user's next step, as the message writes it
    assert db.add_experiment(edited, exist_ok=True) is edited  # defined the same now
    assert db.get_experiment("e")._definition_difference(edited) is None
    assert len(list(edited.all_jobs())) == kept
