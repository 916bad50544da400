"""The Keras 3 callback (torch backend, CPU) with the real library against the real service."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import schedy
from schedy.integrations import load_checkpoint
from tests.integrations.conftest import framework, next_job

os.environ.setdefault("KERAS_BACKEND", "torch")
framework("torch")
keras = framework("keras")

# Keras' torch backend hands numpy a tensor whose __array__ predates numpy 2's copy keyword (not ours to fix).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _fit(  # type: ignore[no-untyped-def]
    job: schedy.Job,
    digits,
    epochs: int,
    validation_freq: int = 1,
    monitor: str = "val_loss",
    validation: bool = True,
    **options,
):
    from schedy.integrations.keras import SchedyCallback

    keras.utils.set_random_seed(0)
    x, y = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        x[:1000],
        y[:1000],
        validation_data=(x[1000:1400], y[1000:1400]) if validation else None,
        epochs=epochs,
        batch_size=128,
        verbose=0,
        validation_freq=validation_freq,
        callbacks=[SchedyCallback(job, monitor, **options)],
    )
    return model


def test_keras_reports_every_epoch_and_checkpoints(experiment, digits, tmp_path: Path) -> None:
    exp = experiment("val_loss")
    job = next_job(exp)
    with job:
        model = _fit(job, digits, 4, checkpoint="model.keras", checkpoint_every=2)
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    reports = job.reports()
    assert [r["step"] for r in reports] == [0, 1, 2, 3]
    assert reports[-1]["metrics"]["val_loss"] < reports[0]["metrics"]["val_loss"]
    path = load_checkpoint(job, "model.keras", tmp_path / "model.keras")
    assert path is not None
    back = keras.models.load_model(path)
    x, _ = digits
    np.testing.assert_allclose(back.predict(x[:20], verbose=0), model.predict(x[:20], verbose=0), rtol=1e-5)


def test_keras_stops_when_told_and_the_job_ends_pruned(experiment, digits) -> None:
    exp = experiment("val_loss", prune=True)
    job = next_job(exp)
    with job:
        _fit(job, digits, 30)
        pytest.fail("training went on after the service said stop")
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.PRUNED
    assert [r["step"] for r in job.reports()] == [0, 1]


def test_keras_validating_every_other_epoch_reports_those_epochs(experiment, digits, tmp_path: Path) -> None:
    # fit(validation_freq=2) logs val_loss at epochs 1 and 3 only: the others are trained and checkpointed, not
    # refused for a missing metric.
    exp = experiment("val_loss")
    job = next_job(exp)
    with job:
        _fit(job, digits, 4, validation_freq=2, checkpoint="model.keras", checkpoint_every=1)
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    assert [r["step"] for r in job.reports()] == [1, 3]
    assert load_checkpoint(job, "model.keras", tmp_path / "model.keras") is not None


def test_keras_a_metric_it_never_logs_is_a_clear_error(experiment, digits) -> None:
    exp = experiment("val_loss")
    job = next_job(exp)
    with pytest.raises(KeyError, match="No metric 'val_los' to report; the framework logged"), job:
        _fit(job, digits, 2, monitor="val_los")
    assert exp.get_job(job.job_id).status == schedy.Job.CRASHED


def test_keras_without_validation_data_warns_that_nothing_was_reported(experiment, digits, caplog) -> None:
    """As Keras' own EarlyStopping does: monitoring val_loss with no validation set is a mistake to show."""
    exp = experiment("val_loss")
    job = next_job(exp)
    with caplog.at_level("WARNING", logger="schedy"), job:
        _fit(job, digits, 2, validation=False)
    assert exp.get_job(job.job_id).reports() == []
    assert f"SchedyCallback reported no 'val_loss' for job {job.job_id} (no epoch logged it: did fit() get" in (
        caplog.text
    )
    caplog.clear()
    job = next_job(exp)
    with caplog.at_level("WARNING", logger="schedy"), job:
        _fit(job, digits, 2)
    assert "SchedyCallback" not in caplog.text  # reported: no warning


@pytest.mark.parametrize("name", ["model.keras", "model.weights.h5"])
def test_keras_resumes_at_the_epoch_after_its_checkpoint(experiment, digits, tmp_path: Path, name: str) -> None:
    from schedy.integrations.keras import SchedyCallback, resume_checkpoint

    class Interrupted(keras.callbacks.Callback):  # the worker is stopped after epoch 2 of 5
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            if epoch == 2:
                self.model.stop_training = True

    x, y = digits
    data = {"x": x[:200], "y": y[:200], "validation_data": (x[1000:1100], y[1000:1100]), "epochs": 5, "verbose": 0}
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    exp = experiment("val_loss")
    first = next_job(exp)
    with first:
        assert resume_checkpoint(first, name) is None  # a first attempt starts from scratch
        model.fit(**data, callbacks=[SchedyCallback(first, "val_loss", checkpoint=name), Interrupted()])
    resume = resume_checkpoint(exp.get_job(first.job_id), name, tmp_path / name)
    assert resume is not None
    path, initial_epoch = resume
    assert initial_epoch == 3  # checkpointed after epoch 2 (0-based)

    # Going on from it trains the 2 epochs left and reports them as epochs 3 and 4, as an uninterrupted run would.
    second = next_job(exp)
    with second:
        if name.endswith(".keras"):
            model = keras.models.load_model(path)
        else:
            model.load_weights(path)
        history = model.fit(**data, initial_epoch=initial_epoch, callbacks=[SchedyCallback(second, "val_loss")])
    assert len(history.history["val_loss"]) == 2
    assert [r["step"] for r in exp.get_job(second.job_id).reports()] == [3, 4]
