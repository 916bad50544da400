"""A ``checkpoint=`` name that cannot be stored is refused when the callback is made, not after training.

It used to be accepted, and the first checkpoint, ``checkpoint_every`` epochs or rounds later, failed with
the framework's own error about a temporary file (XGBoost: ``LocalFileSystem::Open ... No such file``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import schedy
from tests.integrations.conftest import framework, next_job

os.environ.setdefault("KERAS_BACKEND", "torch")

# Each framework's callback, made with ``checkpoint=NAME`` for a job watching "loss".
MAKERS: dict[str, Callable[[schedy.Job | None, str], Any]] = {
    "xgboost": lambda job, name: _module("xgboost").SchedyCallback(job, "loss", checkpoint=name),
    "lightgbm": lambda job, name: _module("lightgbm").schedy_callback(job, "loss", checkpoint=name),
    "keras": lambda job, name: _module("keras").SchedyCallback(job, "loss", checkpoint=name),
    "lightning": lambda job, name: _module("lightning").SchedyCallback(job, "loss", checkpoint=name),
    "transformers": lambda job, name: _module("transformers").SchedyCallback(job, "loss", checkpoint=name),
}
NEEDS = {
    "xgboost": ["xgboost"],
    "lightgbm": ["lightgbm"],
    "keras": ["torch", "keras"],
    "lightning": ["torch", "lightning"],
    "transformers": ["torch", "transformers", "accelerate"],
}


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"schedy.integrations.{name}")


@pytest.mark.parametrize("name", ["ckpt/model.json", ".hidden"])
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_a_checkpoint_name_that_is_no_artifact_name_is_refused_when_the_callback_is_made(
    experiment, kind: str, name: str
) -> None:
    for package in NEEDS[kind]:
        framework(package)
    exp = experiment("loss")
    job = next_job(exp)
    with job:
        with pytest.raises(ValueError, match=r"^checkpoint=.* is the name of the artifact .*, not a path: "):
            MAKERS[kind](job, name)
        job.results["loss"] = 1.0
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE  # nothing trained, nothing failed: the mistake is caught at once
    assert job.reports() == []
    assert job.artifacts() == []


def test_a_lightning_rank_without_a_job_refuses_it_too() -> None:
    framework("torch")
    framework("lightning")
    with pytest.raises(ValueError, match="not a path"):
        MAKERS["lightning"](None, "checkpoints/last.ckpt")


def test_a_name_each_framework_can_write_is_accepted(experiment) -> None:
    exp = experiment("loss")
    job = next_job(exp)
    names = {
        "xgboost": "model.json",
        "lightgbm": "model.txt",
        "keras": "model.keras",
        "lightning": "last.ckpt",
        "transformers": "checkpoint.tar",
    }
    with job:
        for kind, name in names.items():
            try:
                for package in NEEDS[kind]:
                    pytest.importorskip(package)
            except pytest.skip.Exception:
                continue
            MAKERS[kind](job, name)
        job.results["loss"] = 1.0


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "model"])
def test_keras_refuses_a_name_whose_ending_it_cannot_save_before_training(experiment, digits, name: str) -> None:
    framework("torch")
    keras = framework("keras")
    from schedy.integrations.keras import SchedyCallback

    exp = experiment("val_loss")
    job = next_job(exp)
    x, y = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with job:
        with pytest.raises(ValueError, match=r"must end in \.keras .* or \.weights\.h5"):
            model.fit(
                x[:64], y[:64], validation_data=(x[64:128], y[64:128]), epochs=1, verbose=0,
                callbacks=[SchedyCallback(job, "val_loss", checkpoint=name)],
            )  # fmt: skip
        job.results["val_loss"] = 1.0
    assert exp.get_job(job.job_id).reports() == []
    # The endings Keras writes are accepted: the whole model, or its weights only.
    SchedyCallback(job, "val_loss", checkpoint="model.keras")
    SchedyCallback(job, "val_loss", checkpoint="model.weights.h5")
