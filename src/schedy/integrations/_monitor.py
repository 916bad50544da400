"""What every callback shares: report a value, remember it, decide, checkpoint."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from schedy._artifacts import check_name
from schedy.errors import JobPruned
from schedy.integrations import save_checkpoint

if TYPE_CHECKING:
    from schedy._jobs import Job

logger = logging.getLogger("schedy")


class Monitor:
    """Reports one metric of a job per step and tells when to stop."""

    def __init__(
        self, job: Job | None, monitor: str, checkpoint: str | None, checkpoint_every: int, report_every: float = 0.0
    ) -> None:
        """Report ``monitor`` of ``job`` (``None``: a rank that does not talk to the service).

        ``report_every`` > 0: reports are gathered and sent at most every that many seconds
        (:meth:`schedy.Job.buffered_reports`; what is left goes at the job's end), for steps so short that
        a round trip each would slow training; a stop decision then comes with the next send.
        """
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {checkpoint_every}.")
        if checkpoint:  # refused now, not at the first checkpoint after hours of training ("": none, as ever)
            check_checkpoint_name(checkpoint)
        policy = None if job is None else job.experiment.early_stopping
        if job is not None and policy is not None and policy.result_name != monitor:
            # Each callback sends reports of its own metric only: at every step, the one without the policy's
            # metric ranks worst and may stop the job, whatever the other callback reports.
            raise ValueError(
                f"SchedyCallback monitors {monitor!r}, but the early-stopping policy of experiment "
                f"{job.experiment.name!r} ({type(policy).__name__}) judges jobs by {policy.result_name!r}: "
                f"its reports would lack that metric, rank worst and stop the job. Monitor {policy.result_name!r} "
                "(one callback per job)."
            )
        self.buffer = None if job is None or not report_every else job.buffered_reports(report_every)
        self.job = job
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.stopped_at: int | None = None
        self.reports = 0

    def report(self, step: int, value: float | None) -> bool:
        """Send the value of ``step``; ``True`` when the service says stop."""
        job = self.job
        if job is None:
            return False
        if job.status != job.RUNNING:
            ended = job.status in (job.DONE, job.PRUNED, job.CRASHED)
            raise ValueError(
                f"Job {job.job_id} of experiment {job.experiment.name!r} "
                + (f"has already ended {job.status}" if ended else f"is {job.status}, not RUNNING")
                + f", so SchedyCallback cannot report {self.monitor!r} for it: train inside the job's "
                "`with job:` block."
            )
        value = None if value is None else float(value)
        self.reports += 1
        metrics = {self.monitor: value}
        stop = job.report(step, **metrics) if self.buffer is None else self.buffer.report(step, **metrics)
        if job.lost is None:  # a job no longer this worker's keeps the results it has
            job.results[self.monitor] = value
        if stop and self.stopped_at is None:
            self.stopped_at = step
        return stop

    def maybe_checkpoint(self, step: int, write: Callable[[Path], object]) -> None:
        """Save a checkpoint every ``checkpoint_every`` steps (counting from 1), if asked to."""
        if self.job is not None and self.checkpoint and (step + 1) % self.checkpoint_every == 0:
            save_checkpoint(self.job, self.checkpoint, write)

    def pruned(self) -> JobPruned:
        """The exception that ends the job PRUNED, or (one no longer this worker's) stops its training."""
        if self.job is not None and self.job.lost is not None:
            # Ended by someone else or its lease lapsed: nothing was pruned. JobPruned still stops training, and
            # `with job:` then goes on to the next job, as after Job.report's True for such a job.
            return JobPruned(
                f"Stopped at step {self.stopped_at}: job {self.job.job_id} is no longer this worker's, so nothing "
                f"more can be reported for it (the service says: {self.job.lost.rstrip('.')})."
            )
        value = self.job.results.get(self.monitor) if self.job is not None else None
        shown = "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:g}"
        why = self.job.stop_reason if self.job is not None else None  # the policy's words, from the report's answer
        return JobPruned(f"Pruned at step {self.stopped_at} ({self.monitor} = {shown})." + (f" {why}" if why else ""))

    def warn_if_silent(self, hint: str) -> None:
        """At the end of training: say so if nothing was reported, so the service could not stop the job."""
        if self.job is not None and self.reports == 0:
            logger.warning(
                "SchedyCallback reported no %r for job %s (%s), so the service could not stop it early.",
                self.monitor,
                self.job.job_id,
                hint,
            )


def check_checkpoint_name(name: str) -> None:
    """Refuse, when the callback is made, a ``checkpoint=`` that the first checkpoint, epochs later, would fail on.

    The name is the artifact's, so it follows the artifact-name rule (no ``/``: one flat file per name).
    """
    try:
        check_name(name)
    except ValueError as exc:
        rule = str(exc)
        raise ValueError(
            f"checkpoint={name!r} is the name of the artifact the checkpoint is stored as, not a path: "
            f"{rule[:1].lower()}{rule[1:]}"
        ) from None


def missing_metric(monitor: str, available: object) -> KeyError:
    """A clear error for a monitor that names no metric the framework logs."""
    return KeyError(f"No metric {monitor!r} to report; the framework logged {available}.")
