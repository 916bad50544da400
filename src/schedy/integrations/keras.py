"""Keras 3: report a metric every epoch, on any backend (``pip install './[keras]'`` from a checkout).

Example::

    from schedy.integrations.keras import SchedyCallback, resume_checkpoint

    with exp.next_job() as job:
        resume = resume_checkpoint(job, "model.keras")   # a retry goes on from its checkpoint's epoch
        if resume is None:
            model, initial_epoch = new_model(), 0
        else:
            path, initial_epoch = resume
            model = keras.models.load_model(path)
        model.fit(x, y, validation_split=0.2, epochs=30, initial_epoch=initial_epoch,
                  callbacks=[SchedyCallback(job, "val_loss", checkpoint="model.keras")])
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from schedy.integrations import load_checkpoint
from schedy.integrations._monitor import Monitor, check_checkpoint_name, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback", "resume_checkpoint"]

# Where a checkpoint records its epoch: a member of the .keras zip archive, an attribute of an HDF5 file's root.
# Keras ignores both when loading, and the epoch travels in the one artifact with the weights it belongs to.
_EPOCH_MEMBER = "schedy.json"
_EPOCH_ATTRIBUTE = "schedy_epoch"
# The endings model.save and save_weights accept: the whole model (.keras; .h5 and .hdf5, Keras' legacy format),
# or the weights only (.weights.h5, an .h5 too).
_SUFFIXES = (".keras", ".weights.h5", ".h5", ".hdf5")


class SchedyCallback(keras.callbacks.Callback):
    """Report ``monitor`` (a key of Keras' epoch logs, e.g. ``"val_loss"``) at the end of every epoch.

    With ``fit(validation_freq=N)``, a ``val_`` metric is reported at the
    epochs that validate. The step is the epoch (0-based, as Keras counts; ``initial_epoch``
    counts on). Raises :class:`schedy.errors.JobPruned` out of
    ``model.fit`` when the service says stop. With ``checkpoint`` (a name
    ending in ``.keras``, or ``.weights.h5`` for weights only; another is a
    ``ValueError`` here), the model is
    saved every ``checkpoint_every`` epochs as that artifact, with the epoch
    it was saved after; :func:`resume_checkpoint` gives both back.
    """

    def __init__(self, job: Job, monitor: str, *, checkpoint: str | None = None, checkpoint_every: int = 1) -> None:
        super().__init__()
        if checkpoint:  # refused now, not by model.save at the first checkpoint, epochs later
            check_checkpoint_name(checkpoint)
            if not checkpoint.endswith(_SUFFIXES):
                raise ValueError(
                    f"checkpoint={checkpoint!r} must end in .keras (the whole model) or .weights.h5 (the weights "
                    "only): Keras picks the file format from the name's ending."
                )
        self._monitor = Monitor(job, monitor, checkpoint, checkpoint_every)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report this epoch's value; checkpoint; raise JobPruned when told to stop."""
        logs = logs or {}
        monitor = self._monitor.monitor
        # With fit(validation_freq=N) the epochs between validations log no "val_" metric at all: nothing to
        # report then (the training goes on and is checkpointed). Any other missing name is a mistake.
        skipped = monitor.startswith("val_") and not any(key.startswith("val_") for key in logs)
        if monitor not in logs and not skipped:
            raise missing_metric(monitor, sorted(logs))
        self._monitor.maybe_checkpoint(epoch, lambda path: self._save(path, epoch))
        if not skipped and self._monitor.report(epoch, logs[monitor]):
            raise self._monitor.pruned()

    def _save(self, path: Path, epoch: int) -> None:
        if (self._monitor.checkpoint or "").endswith(".weights.h5"):
            self.model.save_weights(path)
        else:
            self.model.save(path)
        _record_epoch(path, epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Warn when no epoch logged the metric (``val_loss`` without ``validation_data``)."""
        self._monitor.warn_if_silent("no epoch logged it: did fit() get validation_data?")


def resume_checkpoint(
    job: Job, name: str, to: str | os.PathLike[str] | None = None, *, from_parent: bool = False
) -> tuple[Path, int] | None:
    """Download the checkpoint artifact ``name``: ``(path, initial_epoch)``, or ``None`` when there is none.

    ``None`` (start from scratch) for a job that has not saved ``name`` yet, or
    with ``from_parent`` one without a parent; with ``from_parent``, a parent
    that stored none (or was deleted) raises
    :class:`schedy.errors.ResourceNotFoundError`, as
    :func:`schedy.integrations.load_checkpoint` does.

    ``initial_epoch`` is the epoch after the one the checkpoint was saved
    at: give it to ``model.fit(..., initial_epoch=initial_epoch)`` with the
    same ``epochs``, so a resumed run reports the epochs it has not done
    yet and ends at the same total (0 for a checkpoint that records no
    epoch: one not saved by :class:`SchedyCallback`).

    Args:
        job: the job.
        name: the artifact's name, as :class:`SchedyCallback` stored it.
        to: where to write it (default: a temporary copy, as :func:`schedy.integrations.load_checkpoint` makes).
        from_parent: take it from the job this one continues (PBT).

    """
    path = load_checkpoint(job, name, to, from_parent=from_parent)
    if path is None:
        return None
    epoch = _recorded_epoch(path)
    return path, 0 if epoch is None else epoch + 1


def _record_epoch(path: Path, epoch: int) -> None:
    if zipfile.is_zipfile(path):  # .keras
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(_EPOCH_MEMBER, json.dumps({"epoch": epoch}))
        return
    import h5py  # type: ignore[import-untyped]  # a dependency of Keras, without type hints

    if h5py.is_hdf5(path):  # .weights.h5, .h5
        with h5py.File(path, "a") as file:
            file.attrs[_EPOCH_ATTRIBUTE] = epoch


def _recorded_epoch(path: Path) -> int | None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if _EPOCH_MEMBER not in archive.namelist():
                return None
            return int(json.loads(archive.read(_EPOCH_MEMBER))["epoch"])
    import h5py  # type: ignore[import-untyped]

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as file:
            value = file.attrs.get(_EPOCH_ATTRIBUTE)
            return None if value is None else int(value)
    return None
