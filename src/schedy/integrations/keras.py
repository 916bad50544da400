"""Keras 3: report a metric every epoch, on any backend (``pip install './[keras]'`` from a checkout).

Example::

    from schedy.integrations.keras import SchedyCallback

    with exp.next_job() as job:
        model.fit(x, y, validation_split=0.2, epochs=30,
                  callbacks=[SchedyCallback(job, "val_loss", checkpoint="model.keras")])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback"]


class SchedyCallback(keras.callbacks.Callback):
    """Report ``monitor`` (a key of Keras' epoch logs, e.g. ``"val_loss"``) at the end of every epoch.

    With ``fit(validation_freq=N)``, a ``val_`` metric is reported at the
    epochs that validate. The step is the epoch (0-based, as Keras counts; ``initial_epoch``
    counts on). Raises :class:`schedy.errors.JobPruned` out of
    ``model.fit`` when the service says stop. With ``checkpoint`` (a name
    ending in ``.keras``, or ``.weights.h5`` for weights only), the model is
    saved every ``checkpoint_every`` epochs as that artifact; resume with
    ``keras.models.load_model(load_checkpoint(job, "model.keras"))``.
    """

    def __init__(self, job: Job, monitor: str, *, checkpoint: str | None = None, checkpoint_every: int = 1) -> None:
        super().__init__()
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
        checkpoint = self._monitor.checkpoint or ""
        if checkpoint.endswith(".weights.h5"):
            self._monitor.maybe_checkpoint(epoch, lambda path: self.model.save_weights(path))
        else:
            self._monitor.maybe_checkpoint(epoch, lambda path: self.model.save(path))
        if not skipped and self._monitor.report(epoch, logs[monitor]):
            raise self._monitor.pruned()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Warn when no epoch logged the metric (``val_loss`` without ``validation_data``)."""
        self._monitor.warn_if_silent("no epoch logged it: did fit() get validation_data?")
