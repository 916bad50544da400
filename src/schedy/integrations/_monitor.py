"""What every callback shares: report a value, remember it, decide, checkpoint."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
        self.buffer = None if job is None or not report_every else job.buffered_reports(report_every)
        self.job = job
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.stopped_at: int | None = None
        self.reports = 0

    def report(self, step: int, value: float | None) -> bool:
        """Send the value of ``step``; ``True`` when the service says stop."""
        if self.job is None:
            return False
        value = None if value is None else float(value)
        self.reports += 1
        self.job.results[self.monitor] = value
        metrics = {self.monitor: value}
        stop = self.job.report(step, **metrics) if self.buffer is None else self.buffer.report(step, **metrics)
        if stop and self.stopped_at is None:
            self.stopped_at = step
        return stop

    def maybe_checkpoint(self, step: int, write: Callable[[Path], object]) -> None:
        """Save a checkpoint every ``checkpoint_every`` steps (counting from 1), if asked to."""
        if self.job is not None and self.checkpoint and (step + 1) % self.checkpoint_every == 0:
            save_checkpoint(self.job, self.checkpoint, write)

    def pruned(self) -> JobPruned:
        """The exception that ends the job PRUNED."""
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


def missing_metric(monitor: str, available: object) -> KeyError:
    """A clear error for a monitor that names no metric the framework logs."""
    return KeyError(f"No metric {monitor!r} to report; the framework logged {available}.")
