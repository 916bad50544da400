"""Warnings about a worker's likely slips that the service accepts but cannot learn from.

A TPE or PBT search ranks DONE jobs by one result, and an early-stopping
policy judges reports by one metric. A worker that names it otherwise
(``val_loss`` for ``loss``), or sends it as text, is not wrong as far as the
protocol goes: the job is kept, and ranked as the worst. The search then
learns nothing and the policy stops the job, silently. These checks say so
in the worker's log, once per experiment and kind of slip in a process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from schedy._encoding import as_plain

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["check_reports", "check_results"]

logger = logging.getLogger("schedy")

_warned: set[tuple[str, str, str, str, str]] = set()
_lock = threading.Lock()


def _first_time(kind: str, job: Job, name: str) -> bool:
    """Whether this slip has not been warned about yet for the job's experiment (and note that it now is)."""
    db = job.experiment._db
    where = ("", "") if db is None else (db._transport.config.root, db._transport.config.email)
    key = (kind, *where, job.experiment.name, name)
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
        return True


def _names(mapping: Mapping[str, Any]) -> str:
    """The names of a mapping for a message: ``'a', 'b'`` or ``none``."""
    shown = ", ".join(repr(key) for key in list(mapping)[:8])
    return (shown + (", …" if len(mapping) > 8 else "")) or "none"


def _is_number(value: Any) -> bool:
    """Whether a value is what a search can rank (a number or ``None``, which says "no value" on purpose)."""
    value = as_plain(value)
    return value is None or (not isinstance(value, bool) and isinstance(value, (int, float)))


def check_results(job: Job) -> None:
    """Warn when a job about to end DONE lacks, or holds as a non-number, the result its search ranks by.

    Only for searches with an objective of their own (TPE, PBT): an
    early-stopping policy judges reports, not results.
    """
    objective = job.experiment._search_objective()
    if objective is None:
        return
    name, direction = objective
    search = f"its {type(job.experiment).__name__} {'minimises' if direction == 'min' else 'maximises'}"
    if name not in job.results:
        if _first_time("missing result", job, name):
            logger.warning(
                "Job %s of experiment %r ended DONE without a result named %r, the one %s: the search ranks it "
                "worst and learns nothing from its hyperparameters (its results: %s): name the result %r. "
                "(Said once per experiment.)",
                job.job_id,
                job.experiment.name,
                name,
                search,
                _names(job.results),
                name,
            )
    elif job._inherited(name):
        if _first_time("inherited result", job, name):
            logger.warning(
                "Job %s of experiment %r ended DONE with %r still the value it started with (%r, its parent's): "
                "it neither set nor reported it, so %s ranks it by a score it did not earn. Set job.results[%r] "
                "at the end of each interval. (Said once per experiment.)",
                job.job_id,
                job.experiment.name,
                name,
                job.results[name],
                f"the result {search}",
                name,
            )
    elif not _is_number(job.results[name]) and _first_time("text result", job, name):
        value = job.results[name]
        logger.warning(
            "Job %s of experiment %r ended DONE with %r = %.40r, a %s, not a number: the result %s ranks it worst. "
            "Store the number itself. (Said once per experiment.)",
            job.job_id,
            job.experiment.name,
            name,
            value,
            type(value).__name__,
            search,
        )


def check_reports(job: Job, reports: Iterable[Mapping[str, Any]]) -> None:
    """Warn when a report (its metrics) lacks the metric the experiment's early-stopping policy judges by."""
    policy = job.experiment.early_stopping
    if policy is None:
        return
    name = policy.result_name
    metrics = next((each for each in reports if name not in each), None)
    if metrics is None:
        return
    if _first_time("missing metric", job, name):
        logger.warning(
            "Job %s of experiment %r reported no %r, the metric its early-stopping policy (%s) judges by: a report "
            "without it ranks worst and may stop the job (this one has: %s): report it as %r. "
            "(Said once per experiment.)",
            job.job_id,
            job.experiment.name,
            name,
            type(policy).__name__,
            _names(metrics),
            name,
        )
