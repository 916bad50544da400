"""Hugging Face ``transformers.Trainer``: report a metric every evaluation (``pip install './[transformers]'``).

Example::

    from schedy.integrations.transformers import SchedyCallback, resume_checkpoint

    with exp.next_job() as job:
        args = TrainingArguments("out", eval_strategy="epoch", num_train_epochs=10, report_to="none")
        trainer = Trainer(model, args, train_dataset=train, eval_dataset=valid,
                          callbacks=[SchedyCallback(job, "eval_loss", checkpoint="checkpoint.tar")])
        trainer.train(resume_from_checkpoint=resume_checkpoint(job, "checkpoint.tar"))

A Trainer checkpoint is a directory (weights, optimizer, scheduler, RNG and
trainer state); the callback stores it as one uncompressed tar artifact and
:func:`resume_checkpoint` unpacks it back into a directory that
``trainer.train(resume_from_checkpoint=...)`` accepts.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import transformers
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from schedy.integrations import _keep_until_replaced, load_checkpoint, save_checkpoint
from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback", "resume_checkpoint"]


class SchedyCallback(transformers.TrainerCallback):
    """Report ``monitor`` (a key of the evaluation metrics, e.g. ``"eval_loss"``) after every evaluation.

    The step is ``state.global_step`` (the optimizer steps so far, which a
    resumed run counts on from); how often the Trainer evaluates is
    ``TrainingArguments.eval_strategy``'s business. As in
    ``metric_for_best_model``, a name without the ``eval_`` prefix is looked
    up with it too. When the service says stop, training stops at that
    evaluation (``control.should_training_stop``) and ``trainer.train``
    raises :class:`schedy.errors.JobPruned` once the Trainer has finished
    (``with job:`` then ends the job PRUNED).

    With ``checkpoint`` (an artifact name such as ``"checkpoint.tar"``),
    every ``checkpoint_every`` evaluations the Trainer is asked to save a
    checkpoint, and every checkpoint it saves (by its own ``save_strategy``
    too) is stored as that artifact, replacing the previous one.

    Under distributed training every process gets the callback, with
    ``job=None`` on all but the main one; the main process reports and the
    others learn its decision through ``torch.distributed``, so every
    process stops at the same step. Only the process with the job raises.

    Args:
        job: the job (``None`` on processes other than the main one).
        monitor: the metric's name, e.g. ``"eval_loss"`` or ``"eval_accuracy"``.
        checkpoint: an artifact name for checkpoints (none by default).
        checkpoint_every: evaluations between two checkpoints.

    """

    def __init__(
        self, job: Job | None, monitor: str, *, checkpoint: str | None = None, checkpoint_every: int = 1
    ) -> None:
        super().__init__()
        self._monitor = Monitor(job, monitor, checkpoint, checkpoint_every)
        self._evaluations = 0
        self._last_step: int | None = None
        self._unmatched: tuple[int, list[str]] | None = None  # the step and metrics of evaluations without it

    @property
    def pruned(self) -> bool:
        """Whether the service told the job to stop (known on every process)."""
        return self._monitor.stopped_at is not None

    def _key(self, metrics: dict[str, Any]) -> str | None:
        """The key of the monitored metric in an evaluation's metrics, if it has one."""
        name = self._monitor.monitor
        return next((key for key in (name, f"eval_{name}") if key in metrics), None)

    def _is_for(self, metrics: dict[str, Any]) -> bool:
        """Whether this evaluation is of the dataset the monitor names, by the prefix of its metrics.

        The Trainer evaluates each dataset of ``eval_dataset={"a": ..., "b": ...}`` on its own, one
        ``on_evaluate`` each, with ``eval_a_…`` and ``eval_b_…`` metrics (and always ``PREFIX_runtime``).
        """
        prefix = next((key[: -len("_runtime")] for key in metrics if key.endswith("_runtime")), None)
        name = self._monitor.monitor
        return prefix is None or any(key.startswith(f"{prefix}_") for key in (name, f"eval_{name}"))

    def on_evaluate(
        self,
        args: transformers.TrainingArguments,
        state: transformers.TrainerState,
        control: transformers.TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Report this evaluation's value; ask for a checkpoint; stop training when told to."""
        step = state.global_step
        if step == self._last_step or self.pruned:
            return  # trainer.evaluate() again at the same step, or after the stop
        metrics = metrics or {}
        # Decided from the metrics, which every process has: all processes skip or report (and broadcast) alike.
        key = self._key(metrics)
        if key is None:
            if self._is_for(metrics):
                raise missing_metric(self._monitor.monitor, sorted(metrics))
            # Another of several datasets (eval_a_loss while monitoring eval_b_loss): the monitored one's evaluation
            # comes at the same step. A name no evaluation carries is refused at the next step (or the end).
            if self._unmatched and self._unmatched[0] != step and self._last_step is None:
                raise missing_metric(self._monitor.monitor, self._unmatched[1])
            seen = self._unmatched[1] if self._unmatched and self._unmatched[0] == step else []
            self._unmatched = (step, sorted({*seen, *metrics}))
            return
        self._last_step = step
        self._unmatched = None
        stop = False
        if self._monitor.job is not None:
            value = metrics[key]
            stop = self._monitor.report(step, None if value is None else float(value))
        stop = _broadcast(stop)
        self._evaluations += 1
        if stop:
            if self._monitor.stopped_at is None:
                self._monitor.stopped_at = step
            control.should_training_stop = True
        elif self._monitor.checkpoint and self._evaluations % self._monitor.checkpoint_every == 0:
            control.should_save = True

    def on_save(
        self,
        args: transformers.TrainingArguments,
        state: transformers.TrainerState,
        control: transformers.TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Store the checkpoint the Trainer just wrote as the artifact (main process only)."""
        job, name = self._monitor.job, self._monitor.checkpoint
        if job is None or not name:
            return
        directory = Path(args.output_dir or ".") / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if directory.is_dir():
            save_checkpoint(job, name, lambda path: _pack(directory, path))

    def on_train_end(
        self,
        args: transformers.TrainingArguments,
        state: transformers.TrainerState,
        control: transformers.TrainerControl,
        **kwargs: Any,
    ) -> None:
        """End ``trainer.train`` with JobPruned on the process with the job, once the service said stop."""
        if self.pruned and self._monitor.job is not None:
            raise self._monitor.pruned()
        if self._unmatched and self._last_step is None:
            raise missing_metric(self._monitor.monitor, self._unmatched[1])
        self._monitor.warn_if_silent(
            "the Trainer never evaluated: set TrainingArguments(eval_strategy='epoch' or 'steps') and an eval_dataset"
        )


def resume_checkpoint(
    job: Job, name: str, to: str | os.PathLike[str] | None = None, *, from_parent: bool = False
) -> str | None:
    """Unpack the checkpoint artifact ``name`` into a directory for ``trainer.train(resume_from_checkpoint=...)``.

    ``None`` when there is none (a first attempt; with ``from_parent``, a job
    without a parent), which ``trainer.train`` takes as "start from scratch".
    With ``from_parent``, a parent that stored none (or was deleted) raises
    :class:`schedy.errors.ResourceNotFoundError`, as
    :func:`schedy.integrations.load_checkpoint` does.

    Args:
        job: the job.
        name: the artifact's name, as :class:`SchedyCallback` stored it.
        to: the directory to unpack into, yours to remove (default: a temporary directory that Schedy
            removes at the next ``resume_checkpoint`` of ``name`` in this process, or at exit).
        from_parent: take it from the job this one continues (PBT).

    """
    with tempfile.TemporaryDirectory(prefix="schedy-checkpoint-") as scratch:
        archive = load_checkpoint(job, name, Path(scratch) / "checkpoint.tar", from_parent=from_parent)
        if archive is None:
            return None
        target = Path(to) if to is not None else Path(tempfile.mkdtemp(prefix="schedy-checkpoint-"))
        try:
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")  # no absolute paths, no '..', no device files
        except BaseException:
            if to is None:
                shutil.rmtree(target, ignore_errors=True)
            raise
    if to is None:
        # Removed at the next resume_checkpoint of this name in the process (a worker going from job to job keeps
        # one unpacked checkpoint, not one per job) or at exit, as load_checkpoint does with its copies.
        _keep_until_replaced(f"transformers/{name}", target)
    return str(target)


def _pack(directory: Path, path: Path) -> None:
    # Uncompressed: weights and optimizer states barely compress, and gzip would cost more than the transfer.
    with tarfile.open(path, "w") as tar:
        for item in sorted(directory.iterdir()):
            tar.add(item, arcname=item.name)


def _broadcast(stop: bool) -> bool:
    """The main process's decision, on every process of a distributed run (itself in one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return stop
    decision = [stop]
    dist.broadcast_object_list(decision, src=0)
    return bool(decision[0])
