"""PyTorch Lightning: report a logged metric every validation, correct under DDP (``pip install './[lightning]'``).

Example (one process)::

    from schedy.integrations.lightning import SchedyCallback

    with exp.next_job() as job:
        trainer = L.Trainer(max_epochs=30, callbacks=[SchedyCallback(job, "val_loss", checkpoint="last.ckpt")])
        trainer.fit(model, train_loader, val_loader)   # raises JobPruned when told to stop

Under DDP only rank 0 has a job and talks to the service; every rank gets
the callback (with ``job=None`` on the others), learns rank 0's decision by
a broadcast, and stops at the same step. Training then ends normally on
every rank, and rank 0 calls :meth:`SchedyCallback.check_pruned` after
``fit`` (see docs/integrations.md)::

    job = exp.next_job() if int(os.environ.get("LOCAL_RANK", 0)) == 0 else None
    callback = SchedyCallback(job, "val_loss")
    trainer = L.Trainer(strategy="ddp", devices=2, callbacks=[callback])
    if job is None:
        trainer.fit(model, train_loader, val_loader)
    else:
        with job:
            trainer.fit(model, train_loader, val_loader)
            callback.check_pruned()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback"]


class SchedyCallback(pl.Callback):
    """Report ``monitor`` (a metric logged with ``self.log``, e.g. ``"val_loss"``) after every validation of ``fit``.

    Not the sanity check, nor ``trainer.validate()`` before or after ``fit``;
    and only when this validation logged the metric (one logged at some
    epochs only is not reported again, with its last value, at the others).
    The step is ``trainer.current_epoch``; when validation runs within
    epochs (``Trainer(val_check_interval=0.25)``, or a number of batches),
    ``trainer.global_step``, so each validation has a step of its own. When
    the service says stop, every
    rank sets ``trainer.should_stop`` so training ends at that step; in a
    single process the callback then raises
    :class:`schedy.errors.JobPruned` out of ``trainer.fit``; under DDP rank
    0 calls :meth:`check_pruned` after ``fit`` (no rank raises inside
    ``fit``, which would leave the others waiting in a collective). With
    ``checkpoint``, ``trainer.save_checkpoint`` runs at the end of every
    ``checkpoint_every``-th epoch (validated or not) on every rank (it is collective) and rank 0
    stores the file as that artifact; resume with ``trainer.fit(...,
    ckpt_path=load_checkpoint(job, "last.ckpt"))``.

    Args:
        job: the job (``None`` on ranks other than 0).
        monitor: the metric's name in ``trainer.callback_metrics``.
        checkpoint: an artifact name for checkpoints (none by default).
        checkpoint_every: epochs between two checkpoints (validations, when validating within epochs).

    """

    def __init__(
        self, job: Job | None, monitor: str, *, checkpoint: str | None = None, checkpoint_every: int = 1
    ) -> None:
        super().__init__()
        self._monitor = Monitor(job, monitor, checkpoint, checkpoint_every)
        self._raised = False
        self._last_step: int | None = None
        self._validations = 0
        self._reported: object = None  # the tensor reported last

    @property
    def pruned(self) -> bool:
        """Whether the service told the job to stop (known on every rank)."""
        return self._monitor.stopped_at is not None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Rank 0 reports; every rank learns the decision and stops together."""
        # Only validations of fit() train anything: not the sanity check, nor trainer.validate() before or after.
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        within = _validates_within_epochs(trainer)
        step = int(trainer.global_step) if within else trainer.current_epoch
        if step == self._last_step:
            return  # a second validation at the same optimizer step (gradient accumulation)
        self._last_step = step
        self._validations += 1
        stop = False
        if trainer.is_global_zero:
            metrics = trainer.callback_metrics
            value = metrics.get(self._monitor.monitor)
            if value is None:
                raise missing_metric(self._monitor.monitor, sorted(metrics))
            # trainer.callback_metrics keeps a metric's last value until it is logged again, and logging it makes a
            # new tensor: the very tensor of the last report means nothing logged it since (self.log at some epochs
            # only). Nothing to report then, as with Keras' validation_freq.
            if value is not self._reported:
                self._reported = value
                stop = self._monitor.report(step, float(value))
        if self._monitor.checkpoint and within and self._validations % self._monitor.checkpoint_every == 0:
            self._checkpoint(trainer)
        stop = bool(trainer.strategy.broadcast(stop, src=0))
        if stop:
            if self._monitor.stopped_at is None:
                self._monitor.stopped_at = step
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Checkpoint every ``checkpoint_every`` epochs, whether or not a validation ran (every rank: collective)."""
        every = self._monitor.checkpoint_every
        if (
            self._monitor.checkpoint
            and not _validates_within_epochs(trainer)
            and (trainer.current_epoch + 1) % every == 0
        ):
            self._checkpoint(trainer)

    def _checkpoint(self, trainer: pl.Trainer) -> None:
        import tempfile
        from pathlib import Path

        # Collective: every rank calls it; only rank 0 writes the file and uploads it.
        with tempfile.TemporaryDirectory(prefix="schedy-checkpoint-") as directory:
            path = Path(directory) / (self._monitor.checkpoint or "last.ckpt")
            trainer.save_checkpoint(path)
            if trainer.is_global_zero and self._monitor.job is not None:
                self._monitor.job.save_artifact(path, self._monitor.checkpoint)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """In a single process, end ``fit`` with JobPruned once training stopped on the service's word."""
        if stage == "fit":
            self._monitor.warn_if_silent("no validation ran: give fit() val_dataloaders and a validation_step")
        if stage == "fit" and trainer.world_size == 1:
            self.check_pruned()

    def check_pruned(self) -> None:
        """Raise :class:`schedy.errors.JobPruned` (once) if the service told the job to stop; call it after ``fit``."""
        if self.pruned and self._monitor.job is not None and not self._raised:
            self._raised = True
            raise self._monitor.pruned()

    def state_dict(self) -> dict[str, Any]:
        """Nothing to keep in Lightning checkpoints."""
        return {}


def _validates_within_epochs(trainer: pl.Trainer) -> bool:
    """Whether validation runs during epochs (``val_check_interval`` a fraction below 1, or batches), not after each."""
    interval = trainer.val_check_interval
    return not (isinstance(interval, float) and interval == 1.0)
