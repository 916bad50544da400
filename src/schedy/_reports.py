"""Intermediate reports sent together: checking one report, and a buffer that sends them in batches.

A report is one round trip (about a millisecond on a local service). Made
every epoch that is nothing; made every batch of a fast training loop it can
slow the loop down. :class:`ReportBuffer` keeps reports in memory and sends
them in one request at most every few seconds (and when it is closed), so a
loop may report at any rate; a stop decision arrives with the next send.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from schedy._encoding import as_plain
from schedy._validate import MAX_STEP, bad_step, report_step
from schedy.errors import JobPruned, SchedyError

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["MAX_STEP", "REPORTS_PER_REQUEST", "ReportBuffer", "checked_report"]

logger = logging.getLogger("schedy")

#: The most reports the service takes in one request (larger batches are sent in several).
REPORTS_PER_REQUEST = 1000
_FLOAT_MAX = sys.float_info.max


def checked_report(step: Any, metrics: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The report's step and metrics as sent: the step a plain int, metrics numpy scalars and 0-d tensors as floats.

    Raises:
        ValueError: ``step`` is not an integer from 0 to :data:`MAX_STEP` (numpy integers allowed), or a metric
            is not a number or ``None``, or is an integer past a float's range.

    """
    plain_step = report_step(step)
    if plain_step is None:
        raise ValueError(bad_step(step))
    for name, value in metrics.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_MAX:
            # Refused now, not when sent (a buffered report is sent later, maybe as its job ends).
            raise ValueError(
                f"Metric {name!r} is an integer {_digits(value)}, past a float's range (1.8e308), which the "
                "service refuses: send it as a float."
            )
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            if isinstance(value, (bool, str, bytes)):  # float() would take "0.5" or True: a mistake
                raise ValueError(f"Metric {name!r} must be a number, not {type(value).__name__}.")
            try:
                # numpy scalars, 0-d tensors (through tolist(): float() of a tensor with a gradient warns)
                metrics[name] = float(as_plain(value))
            except (TypeError, ValueError):
                raise ValueError(f"Metric {name!r} must be a number, not {type(value).__name__}.") from None
    return plain_step, metrics


def _digits(value: int) -> str:
    """How many digits ``value`` has, as a message says it (Python will not write one of over 4300 digits)."""
    try:
        return f"of {len(str(abs(value)))} digits"
    except ValueError:
        return "of thousands of digits"


class ReportBuffer:
    """Reports of one job kept in memory and sent together (:meth:`schedy.Job.buffered_reports` makes one).

    :meth:`report` checks the report at once and keeps it; when the oldest
    kept report is ``every`` seconds old (or :data:`REPORTS_PER_REQUEST` are
    kept), the next :meth:`report` sends them all in one request. Closing
    the buffer (the end of its ``with`` block, also on an exception) sends
    what is left, and so does the end of the job's ``with job:`` block for
    a buffer used without its own (a framework callback's). Once the
    service said to stop, every :meth:`report` answers ``True`` and
    nothing more is sent.
    """

    def __init__(self, job: Job, every: float = 1.0) -> None:
        """Buffer the reports of ``job``, sending them at most every ``every`` seconds (0: send each at once).

        Raises:
            ValueError: ``every`` is negative or not a number.

        """
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not 0 <= every < float("inf"):
            raise ValueError(f"every must be a number of seconds >= 0, not {every!r}.")
        self.job = job
        self.every = float(every)
        self.stop = False
        self._kept: list[tuple[int, dict[str, Any]]] = []
        self._since = 0.0

    def report(self, step: int, **metrics: float | None) -> bool:
        """Keep one report (as :meth:`schedy.Job.report` takes it); ``True`` once the service said to stop.

        Raises:
            ValueError: ``step`` is not a non-negative integer (at most :data:`MAX_STEP`), or a metric is not a
                number.

        """
        step, metrics = checked_report(step, metrics)
        if self.stop:
            return True
        if not self._kept:
            self._since = time.monotonic()
        self._kept.append((step, metrics))
        self.job._record_reported(metrics)  # checked: its latest value, even if the service is away when sent
        if len(self._kept) >= REPORTS_PER_REQUEST or time.monotonic() - self._since >= self.every:
            self.flush()
        return self.stop

    def flush(self) -> bool:
        """Send the reports kept (if any) now; ``True`` once the service said to stop."""
        return self._flush()

    def _flush(self, *, brief: bool = False) -> bool:
        """:meth:`flush`; ``brief``: tried briefly, not waiting for a service that is away."""
        kept, self._kept = self._kept, []
        if kept and not self.stop:
            self.stop = self.job._report_many(kept, brief=brief)
        return self.stop

    def __len__(self) -> int:
        """How many reports are kept, not sent yet."""
        return len(self._kept)

    def __enter__(self) -> ReportBuffer:
        """Use the buffer in a ``with`` block: what is kept is sent at its end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Send what is left, also after an exception (which a failure to send does not hide).

        After an exception (Ctrl-C included) other than :class:`schedy.errors.JobPruned`, the rest is tried
        briefly: a service that is away does not hold the exception back for minutes.
        """
        if exc_type is None:
            self.flush()
        else:
            self.send_rest(brief=not issubclass(exc_type, JobPruned))

    def send_rest(self, *, brief: bool = False) -> None:
        """Send what is left, logging a failure instead of raising it (at a job's end, another error may be on).

        ``brief``: tried briefly, not waiting for a service that is away (an exception is on its way).
        """
        kept = len(self)
        if not kept:
            return
        try:
            self._flush(brief=brief)
        except SchedyError as failed:
            logger.warning("The last %d reports of job %s were not sent: %s", kept, self.job.job_id, failed)
