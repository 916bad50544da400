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
``fit``; a retry resumes every rank from the same checkpoint with
:func:`resume_path` (see docs/integrations.md)::

    job = exp.next_job() if int(os.environ.get("LOCAL_RANK", 0)) == 0 else None
    callback = SchedyCallback(job, "val_loss", checkpoint="last.ckpt")
    trainer = L.Trainer(strategy="ddp", devices=2, callbacks=[callback])
    ckpt_path = resume_path(job, "last.ckpt")  # before fit, which starts the other ranks
    if job is None:
        trainer.fit(model, train_loader, val_loader, ckpt_path=ckpt_path)
    else:
        with job:
            trainer.fit(model, train_loader, val_loader, ckpt_path=ckpt_path)
            callback.check_pruned()

Strategies that train in processes they start (``ddp_spawn``,
``ddp_notebook``) work the same way, the job staying with the process that
calls ``fit``: :meth:`~SchedyCallback.check_pruned` after ``fit`` reads from
the service what the training did.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn

from schedy.integrations import load_checkpoint
from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["RESUME_PATH_VARIABLE", "SchedyCallback", "resume_path"]

logger = logging.getLogger("schedy")

#: The environment variable in which :func:`resume_path` hands rank 0's checkpoint path to the other ranks.
RESUME_PATH_VARIABLE = "SCHEDY_RESUME_PATH"


def resume_path(job: Job | None, name: str) -> Path | None:
    """The checkpoint every rank resumes ``fit`` from: ``trainer.fit(..., ckpt_path=resume_path(job, "last.ckpt"))``.

    On the rank that has the job (rank 0; or the only process) it is
    :func:`schedy.integrations.load_checkpoint` (``None``: nothing to resume
    from, a first attempt), and the path is also put in the environment
    variable :data:`RESUME_PATH_VARIABLE`, which the ranks that
    ``trainer.fit`` starts (Lightning's ``strategy="ddp"``) inherit; on
    those (``job=None``) it returns that path. So call it on rank 0 before
    ``fit``. One node: the other ranks read the file rank 0 downloaded.

    Raises:
        RuntimeError: ``job`` is ``None`` and rank 0 handed no path (it did
            not call this before ``fit``, or started the ranks otherwise, e.g. ``torchrun``).

    """
    if job is not None:
        path = load_checkpoint(job, name)
        os.environ[RESUME_PATH_VARIABLE] = "" if path is None else str(path)
        return path
    handed = os.environ.get(RESUME_PATH_VARIABLE)
    if handed is None:
        raise RuntimeError(
            f"resume_path(None, {name!r}) found no {RESUME_PATH_VARIABLE} in the environment: call "
            f"resume_path(job, {name!r}) on rank 0 before trainer.fit, which starts the other ranks with "
            "rank 0's environment."
        )
    return Path(handed) if handed else None


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
    ``fit``, which would leave the others waiting in a collective). Nothing
    is reported after the stop: training that goes on
    (``Trainer(min_epochs=...)`` is not met yet; a warning says so) leaves
    the job the value of the step it was stopped at. With
    ``checkpoint``, ``trainer.save_checkpoint`` runs at the end of every
    ``checkpoint_every``-th epoch (validated or not) on every rank (it is collective) and rank 0
    stores the file as that artifact; resume with ``trainer.fit(...,
    ckpt_path=resume_path(job, "last.ckpt"))`` (:func:`resume_path`). Under
    DDP, ranks that would start ``fit`` from different checkpoints (one
    from scratch) raise ``RuntimeError`` together before training, instead
    of waiting for each other forever.

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
        # The process that made the callback; a copy in a process ddp_spawn or ddp_notebook started has another.
        self._made_in = os.getpid()
        self._fit_in: int | None = None  # the process in which fit() trained with this copy, once it did
        self._start: tuple[int, int] | None = None  # (epoch, global_step) of the checkpoint fit() resumes from
        self._warned_past_stop = False

    @property
    def pruned(self) -> bool:
        """Whether the service told the job to stop (known on every rank)."""
        return self._monitor.stopped_at is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Note where ``fit`` trains (this process, or one a spawn-based strategy started)."""
        if stage == "fit":
            self._fit_in = os.getpid()
            self._start = None

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Remember where the checkpoint ``fit`` resumes from stands, for the check of :meth:`on_fit_start`."""
        self._start = (int(checkpoint.get("epoch", -1)), int(checkpoint.get("global_step", -1)))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Under DDP: refuse, on every rank, ranks that start from different points (they would hang later)."""
        if trainer.world_size > 1:
            _check_same_start(trainer, pl_module, self._start)

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
        # Known alike on every rank (the decision was broadcast), so every rank skips the broadcast below alike.
        deciding = self._monitor.stopped_at is None
        stop = False
        if deciding and trainer.is_global_zero:
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
        if not deciding:
            self._trained_past_stop(trainer)
            return
        stop = bool(trainer.strategy.broadcast(stop, src=0))
        if stop:
            if self._monitor.stopped_at is None:
                self._monitor.stopped_at = step
            trainer.should_stop = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """An epoch after the service's stop: say once that training went on (``Trainer(min_epochs=...)``)."""
        if self._monitor.stopped_at is not None:
            self._trained_past_stop(trainer)

    def _trained_past_stop(self, trainer: pl.Trainer) -> None:
        """Training goes on after the stop (``min_epochs``/``min_steps`` not met): nothing more is reported."""
        trainer.should_stop = True
        job = self._monitor.job
        if self._warned_past_stop or job is None or not trainer.is_global_zero:
            return
        self._warned_past_stop = True
        loop = trainer.fit_loop
        minimum = ", ".join(
            f"{key}={value}" for key, value in (("min_epochs", loop.min_epochs), ("min_steps", loop.min_steps)) if value
        )
        logger.warning(
            "The service told job %s to stop at step %s, but training went on%s: SchedyCallback reports nothing "
            "more, and the job keeps the %r of step %s.",
            job.job_id,
            self._monitor.stopped_at,
            f" (Trainer({minimum}) is not met yet)" if minimum else "",
            self._monitor.monitor,
            self._monitor.stopped_at,
        )

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

        # Collective: every rank calls it; only rank 0 writes the file and uploads it.
        with tempfile.TemporaryDirectory(prefix="schedy-checkpoint-") as directory:
            path = Path(directory) / (self._monitor.checkpoint or "last.ckpt")
            trainer.save_checkpoint(path)
            if trainer.is_global_zero and self._monitor.job is not None:
                self._monitor.job.save_artifact(path, self._monitor.checkpoint)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """In a single process, end ``fit`` with JobPruned once training stopped on the service's word."""
        if stage != "fit" or not trainer.is_global_zero:
            return  # under ddp_spawn every rank has a copy of the job: the others report nothing, as they should
        self._monitor.warn_if_silent("no validation ran: give fit() val_dataloaders and a validation_step")
        # Not in a process ddp_spawn started: JobPruned would end it, not reach the process inside `with job:`.
        if trainer.world_size == 1 and os.getpid() == self._made_in:
            self.check_pruned()

    def check_pruned(self) -> None:
        """Raise :class:`schedy.errors.JobPruned` (once) if the service told the job to stop; call it after ``fit``.

        After a strategy that trains in processes it starts (``ddp_spawn``,
        ``ddp_notebook``), this copy of the callback saw none of the
        training: it reads what happened from the service (whether the job
        was told to stop, and the last value the job's current attempt
        reported, which goes into ``job.results``), then raises as above.
        """
        job = self._monitor.job
        if job is None or self._raised:
            return
        if self._fit_in != os.getpid() and self._monitor.stopped_at is None:
            self._learn_from_service(job)
        if self.pruned:
            self._raised = True
            raise self._monitor.pruned()

    def _learn_from_service(self, job: Job) -> None:
        """What training in other processes did to the job: its last reported value and the stop verdict, if any."""
        if job.lost is not None:
            return  # no longer this worker's: `with job:` says so
        current = job.experiment.get_job(job.job_id)
        if current.status != job.RUNNING:
            return
        monitor = self._monitor.monitor
        reported = [
            report
            for report in job.reports()
            if monitor in report["metrics"] and (job.attempt is None or report["attempt"] == job.attempt)
        ]
        if not reported:
            return
        last = reported[-1]  # nothing is reported after a stop: the step it was stopped at, if it was
        self._monitor.reports += len(reported)
        job.results[monitor] = last["metrics"][monitor]
        if current.stop_reason is not None:
            job.stop_reason = current.stop_reason
            self._monitor.stopped_at = int(last["step"])

    def state_dict(self) -> dict[str, Any]:
        """Nothing to keep in Lightning checkpoints."""
        return {}


def _check_same_start(trainer: pl.Trainer, pl_module: pl.LightningModule, start: tuple[int, int] | None) -> None:
    """Raise on every rank if the ranks start ``fit`` from different checkpoints (or some from none).

    Ranks at different epochs run different numbers of collectives, so the
    first to finish waits for the others forever: one ``all_gather`` now
    turns that into an error on every rank.
    """
    # No checkpoint; or one whose epoch is not known yet (some strategies read it after this hook).
    unread = [0, 0, 0] if trainer.ckpt_path is None else [1, -1, -1]
    mine = [1, *start] if start is not None else unread
    gathered = trainer.strategy.all_gather(torch.tensor(mine, dtype=torch.int64, device=pl_module.device))
    starts = [tuple(row) for row in gathered.reshape(-1, 3).tolist()]
    if len(set(starts)) > 1:
        shown = ", ".join(f"rank {rank} {_described(each)}" for rank, each in enumerate(starts))
        raise RuntimeError(
            f"The ranks would start fit from different points ({shown}) and then wait for each other forever: "
            "give every rank the same ckpt_path, e.g. ckpt_path=resume_path(job, 'last.ckpt') from "
            "schedy.integrations.lightning, called on rank 0 before fit."
        )


def _described(start: tuple[int, ...]) -> str:
    """Where a rank starts ``fit``: from scratch, or a checkpoint (of which epoch, when known)."""
    resumes, epoch, step = start
    if not resumes:
        return "from scratch"
    if epoch < 0:
        return "from a checkpoint"
    return f"from the checkpoint of epoch {epoch} (global step {step})"


def _validates_within_epochs(trainer: pl.Trainer) -> bool:
    """Whether validation runs during epochs (``val_check_interval`` a fraction below 1, or batches), not after each."""
    interval = trainer.val_check_interval
    return not (isinstance(interval, float) and interval == 1.0)
