"""``load_checkpoint(..., from_parent=True)``: ``None`` only for a job without a parent, an error otherwise.

A PBT job with a parent keeps that parent's results and generation. When the parent had saved no checkpoint
under the name (a typo, a callback without ``checkpoint=``) or was deleted, ``load_checkpoint`` used to return
``None``, which workers take for "a new member": the job trained a fresh model under its parent's history.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import schedy
from schedy import pbt
from schedy.errors import ResourceNotFoundError
from schedy.integrations import load_checkpoint
from schedy.random import Uniform
from tests.integrations.conftest import framework

os.environ.setdefault("KERAS_BACKEND", "torch")


def _child(db: schedy.SchedyDB, tmp_path: Path, *, save: bool) -> schedy.Job:
    """A second-generation PBT job (claimed), its two first-generation members DONE, with ``model.pkl`` if ``save``."""
    db.add_experiment(
        schedy.PopulationBasedTraining(
            "pbt-ckpt", pbt.MAXIMIZE, "score", pbt.Truncate(), {"x": pbt.Perturb()}, {"x": Uniform(0, 1)},
            population_size=2,
        )
    )  # fmt: skip
    exp = db.get_experiment("pbt-ckpt")
    for score in (0.2, 0.8):
        with exp.next_job() as job:
            assert job.parent is None
            assert load_checkpoint(job, "model.pkl", from_parent=True) is None  # a new member: from scratch
            if save:
                (tmp_path / "model.pkl").write_text(f"weights of {job.job_id}")
                job.save_artifact(tmp_path / "model.pkl")
            job.results["score"] = score
    child = exp.next_job()
    assert child.parent is not None
    return child


def test_a_pbt_job_loads_its_parents_checkpoint(db, tmp_path: Path) -> None:
    child = _child(db, tmp_path, save=True)
    with child:
        path = load_checkpoint(child, "model.pkl", from_parent=True)
        assert path is not None
        assert path.read_text() == f"weights of {child.parent}"
        assert load_checkpoint(child, "model.pkl") is None  # its own: none saved yet
        child.results["score"] = 1.0


def test_a_parent_without_the_checkpoint_is_an_error_not_a_fresh_start(db, tmp_path: Path) -> None:
    child = _child(db, tmp_path, save=False)
    with child:
        with pytest.raises(ResourceNotFoundError) as caught:
            load_checkpoint(child, "model.pkl", from_parent=True)
        child.results["score"] = 1.0
    message = str(caught.value)
    assert message.startswith(f"Job '{child.job_id}' continues job '{child.parent}' (its parent), but job ")
    assert "has no artifact 'model.pkl'" in message
    assert "save 'model.pkl' in every job" in message
    assert caught.value.code == 404
    assert list(tmp_path.glob("schedy-checkpoint-*")) == []


def test_a_deleted_parent_is_an_error_not_a_fresh_start(db, tmp_path: Path) -> None:
    child = _child(db, tmp_path, save=True)
    child.experiment.get_job(child.parent).delete()
    with child:
        with pytest.raises(ResourceNotFoundError, match=rf"^Job '{child.job_id}' continues job '{child.parent}'.*"
                           r"does not exist"):  # fmt: skip
            load_checkpoint(child, "model.pkl", tmp_path / "copy.pkl", from_parent=True)
        child.results["score"] = 1.0
    assert not (tmp_path / "copy.pkl").exists()


def test_a_deleted_job_is_not_a_job_without_a_checkpoint(db, tmp_path: Path) -> None:
    exp = schedy.ManualSearch("gone")
    db.add_experiment(exp)
    job = exp.add_job(hyperparameters={})
    exp.get_job(job.job_id).delete()
    with pytest.raises(ResourceNotFoundError, match="does not exist"):
        load_checkpoint(job, "model.pkl")


def test_the_framework_resume_helpers_raise_for_a_parent_without_the_checkpoint(db, tmp_path: Path) -> None:
    child = _child(db, tmp_path, save=False)
    helpers = []
    for packages, module in ((["torch", "keras"], "keras"), (["torch", "transformers", "accelerate"], "transformers")):
        for package in packages:
            framework(package)
        helpers.append(__import__(f"schedy.integrations.{module}", fromlist=["resume_checkpoint"]).resume_checkpoint)
    with child:
        for resume_checkpoint in helpers:
            with pytest.raises(ResourceNotFoundError, match=r"has no artifact 'model\.pkl'"):
                resume_checkpoint(child, "model.pkl", from_parent=True)
            assert resume_checkpoint(child, "model.pkl") is None  # its own, not saved yet: a first attempt
        child.results["score"] = 1.0
