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


def _fit(job: schedy.Job, digits, epochs: int, **options):  # type: ignore[no-untyped-def]
    from schedy.integrations.keras import SchedyCallback

    keras.utils.set_random_seed(0)
    x, y = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        x[:1000], y[:1000], validation_data=(x[1000:1400], y[1000:1400]), epochs=epochs, batch_size=128,
        verbose=0, callbacks=[SchedyCallback(job, "val_loss", **options)],
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
