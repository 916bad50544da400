"""The median stopping rule (Golovin et al., "Google Vizier", KDD 2017).

A job is stopped at step ``s`` when its best value so far is strictly worse
than the median of the *other* jobs' running averages at ``s`` (the mean of
each job's finite values reported up to ``s``), once at least ``minJobs`` other jobs
have reported at ``s`` and ``s`` is past ``warmupSteps``.

``compare: "value"`` takes the median of the other jobs' values *at* ``s``
instead of their running averages, as Optuna's ``MedianPruner`` does: for
curves that improve, an average trails the value, so Vizier's rule (the
default, ``"average"``) is the more lenient one.

The other jobs are those the rule has not stopped. Vizier compares with
*completed* trials; a job the rule stopped is not one, so its running
averages are withdrawn when it is stopped, and its later reports (a worker
that goes on, a report in flight) are answered "stop" and count nowhere.
Keeping them let the median drift towards the losers: in
``bench/early_stopping.py`` the rule then stopped almost only at the first
step and saved about 2× the training steps instead of 3-5×.

Each job counts once per step. A job that reports a step again (a resumed
run, a repeated epoch) replaces its entry there with the one of its latest
report; its own entry is never one of the "other jobs" it is compared with,
and ``minJobs`` counts other jobs, not reports (a job that reported step 1
three times once counted as three others there, and weighed three times in
the median). Its best and its running average still take every finite
value it reported: its best so far is a value it reached.

**Missing and non-finite values** (a report without the metric, NaN,
±inf) are never averaged: a job's running average is the mean of the finite
values it reported up to ``s`` (with ``compare: "value"``, its value at
``s`` if finite), and a job with none has no entry at ``s``, so it is not
one of the other jobs there and ``minJobs`` does not count it. Counting
such a value as +inf in the sum kept the job's average infinite for good:
once half the jobs had reported one (a metric sent every second epoch, a
first report without it), the median was infinite and the rule stopped
nobody. The job itself still ranks worst: its best so far is its best
finite value, or +inf when it has reported none, which is worse than any
median, so past the warm-up and with ``minJobs`` other jobs it is stopped
(as Optuna's ``MedianPruner`` prunes a trial whose best is NaN).

The state keeps, per job, the running sum, count, best loss and, per step,
the value it contributed there (running average, or value), and per step a
sorted list of the values contributed there, one per job: a report costs a
binary search and an insertion (a repeated step, one removal more; a stop,
one removal per step the job reported), whatever the experiment's size.

**Building from many reports** (:meth:`Median.build`): each job's running
sums, averages and best values do not depend on the other jobs, so they are
computed with numpy (one vectorised addition per report index, in report
order: the same sums as one by one); the walk over the reports in order then
only compares, inserts and withdraws.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schedy.errors import DefinitionError
from schedy.server.stopping.base import (
    CONTINUE,
    Built,
    PolicyState,
    Report,
    ReportArrays,
    StoppingPolicy,
    Verdict,
    loss_of,
    losses_of,
    objective_of,
    positive_int,
)

__all__ = ["AVERAGE", "COMPARE", "VALUE", "Median"]

#: What a job's best is compared with: the median of the others' running averages (Vizier's rule) ...
AVERAGE = "average"
#: ... or of their values at the step (Optuna's MedianPruner).
VALUE = "value"
COMPARE = (AVERAGE, VALUE)

#: Reports walked per block in :meth:`Median.build`.
_BLOCK = 4096


@dataclass
class _Job:
    total: float = 0.0  # of the finite losses it reported
    count: int = 0  # how many finite losses it reported
    best: float = math.inf
    # step -> the value it contributes to that step's list (one per step: a repeated step replaces it); +inf,
    # kept out of the list, where it has no finite one (it reached the step all the same)
    averages: dict[int, float] = field(default_factory=dict)
    stopped: Verdict | None = None


@dataclass
class _State(PolicyState):
    jobs: dict[str, _Job] = field(default_factory=dict)
    # step -> sorted running averages (or values: compare) as losses, one per job not stopped that reported there
    # with a finite one
    steps: dict[int, list[float]] = field(default_factory=dict)
    # step -> how many jobs reported at that step (stopped ones included, each once): what the dashboard shows
    reached: dict[int, int] = field(default_factory=dict)
    # step -> how many of those were stopped at that step
    stops: dict[int, int] = field(default_factory=dict)


def _median(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    if n % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2  # only finite values are listed: no NaN here


def _withdraw(state: _State, job: _Job) -> None:
    """Take a stopped job's running averages out of the per-step lists."""
    for step, average in job.averages.items():
        if average != math.inf:
            values = state.steps[step]
            del values[bisect_left(values, average)]
    job.averages = {}


def _arrive(state: _State, job: _Job, step: int) -> list[float]:
    """The list of the *other* jobs' entries at ``step``, the job's own earlier one (a repeated step) taken out.

    A job counts once at a step, never as one of the others it is compared with: its first report there
    counts it as reached; a later one takes its entry out until the new one replaces it.
    """
    others = state.steps.get(step)
    if others is None:
        others = state.steps[step] = []
    own = job.averages.pop(step, None)
    if own is None:
        state.reached[step] = state.reached.get(step, 0) + 1
    elif own != math.inf:
        del others[bisect_left(others, own)]
    return others


def _enter(others: list[float], job: _Job, step: int, value: float) -> None:
    """Record the job's entry at ``step``: in the others' list if finite (a sum past 1.8e308 is not)."""
    if math.isfinite(value):
        insort(others, value)
    else:
        value = math.inf
    job.averages[step] = value


class Median(StoppingPolicy):
    """The median stopping rule; see the module docstring."""

    name = "median"

    def __init__(
        self, result_name: str, objective: str, warmup_steps: int = 0, min_jobs: int = 5, compare: str = AVERAGE
    ) -> None:
        super().__init__(result_name, objective)
        self.warmup_steps = warmup_steps
        self.min_jobs = min_jobs
        self.compare = compare

    @classmethod
    def from_params(cls, params: Any) -> Median:
        if not isinstance(params, dict):
            raise DefinitionError('The median rule takes an object, e.g. {"resultName": "loss", "objective": "min"}.')
        unknown = sorted(params.keys() - {"resultName", "objective", "warmupSteps", "minJobs", "compare"})
        if unknown:
            raise DefinitionError(
                f"Unknown median-rule option(s) {', '.join(map(repr, unknown))}; "
                "use resultName, objective, warmupSteps, minJobs, compare."
            )
        result, objective = objective_of(params, "The median rule")
        warmup = positive_int(params, "warmupSteps", 0, "The median rule", minimum=0)
        min_jobs = positive_int(params, "minJobs", 5, "The median rule")
        compare = params.get("compare", AVERAGE)
        if compare not in COMPARE:
            raise DefinitionError(
                f"The median rule's compare must be \"average\" (the others' running averages, Vizier's rule) "
                f'or "value" (their values at the step, Optuna\'s), not {compare!r}.'
            )
        return cls(result, objective, warmup, min_jobs, compare)

    def to_params(self) -> dict[str, Any]:
        return {
            "resultName": self.result_name,
            "objective": self.objective,
            "warmupSteps": self.warmup_steps,
            "minJobs": self.min_jobs,
            # Only when not the default: the option of an experiment made before it existed reads the same.
            **({} if self.compare == AVERAGE else {"compare": self.compare}),
        }

    def new_state(self) -> PolicyState:
        return _State()

    def observe(self, state: PolicyState, report: Report) -> Verdict:
        assert isinstance(state, _State)  # noqa: S101 - built by new_state
        loss = loss_of(report.value, self.objective)
        job = state.jobs.get(report.job)
        if job is None:
            job = state.jobs[report.job] = _Job()
        if job.stopped is not None:
            return job.stopped
        if loss != math.inf:  # a missing or non-finite value is left out of the average, not summed as +inf
            job.total += loss
            job.count += 1
            job.best = min(job.best, loss)
        others = _arrive(state, job, report.step)
        if report.step >= self.warmup_steps and len(others) >= self.min_jobs:
            median = _median(others)
            if job.best > median:
                job.stopped = self._stop(report.step, len(others), job.best)
                state.stops[report.step] = state.stops.get(report.step, 0) + 1
                _withdraw(state, job)
                return job.stopped
        compared = (job.total / job.count if job.count else math.inf) if self.compare == AVERAGE else loss
        _enter(others, job, report.step, compared)
        return CONTINUE

    def _stop(self, step: int, others: int, best: float) -> Verdict:
        what = "running averages" if self.compare == AVERAGE else "values"
        if best == math.inf:
            return Verdict(
                True,
                f"At step {step} it had reported no finite {self.result_name} (missing, NaN or infinite), "
                f"worse than the median of {others} other jobs' {what}.",
            )
        return Verdict(
            True,
            f"At step {step} its best {self.result_name} was worse than the median of {others} other jobs' {what}.",
        )

    def build(self, reports: ReportArrays) -> Built:
        """The state :meth:`observe` reaches on ``reports``, each job's running values computed with numpy."""
        n = len(reports)
        loss = losses_of(reports.value, self.objective)
        # Each job's reports in order: order[starts[j] + k] is the k-th report of the j-th job that reported.
        order = np.argsort(reports.job, kind="stable")
        grouped = reports.job[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if n else np.zeros(0, dtype=np.int64)
        counts = np.diff(np.r_[starts, n])
        finite = loss != math.inf  # losses_of makes every missing or non-finite value +inf
        totals = np.zeros(n)  # the job's running sum (of finite losses), their count, average and best at each report
        numbers = np.zeros(n, dtype=np.int64)
        averages = np.zeros(n)
        bests = np.zeros(n)
        total = np.zeros(len(reports.job_ids))
        number = np.zeros(len(reports.job_ids), dtype=np.int64)
        best = np.full(len(reports.job_ids), math.inf)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # 1e308 + 1e308 is inf, as in Python
            for k in range(int(counts.max()) if n else 0):
                rows = order[starts[counts > k] + k]
                rows_finite = rows[finite[rows]]
                jobs, adding = reports.job[rows], reports.job[rows_finite]
                # One report per job: the same additions, in the same order, as observe (finite losses only).
                total[adding] += loss[rows_finite]
                number[adding] += 1
                best[adding] = np.minimum(best[adding], loss[rows_finite])
                totals[rows], numbers[rows], bests[rows] = total[jobs], number[jobs], best[jobs]
                averages[rows] = np.where(number[jobs] > 0, total[jobs] / np.maximum(number[jobs], 1), math.inf)
        state = _State()
        ids = reports.job_ids
        by_index = {j: _Job() for j in grouped[starts].tolist()}
        stops: dict[int, tuple[int, Verdict]] = {}
        warmup, min_jobs = self.warmup_steps, self.min_jobs
        stopped = np.zeros(len(ids), dtype=bool)
        compared = averages if self.compare == AVERAGE else loss
        # In blocks, the reports of jobs stopped before the block left out at once (most reports, as the
        # rule stops most jobs early); a job stopped within the block is skipped one report at a time.
        for start in range(0, n, _BLOCK):
            rows = np.arange(start, min(n, start + _BLOCK))
            rows = rows[~stopped[reports.job[rows]]]
            columns = zip(
                rows.tolist(),
                reports.job[rows].tolist(),
                reports.step[rows].tolist(),
                compared[rows].tolist(),
                bests[rows].tolist(),
                strict=True,
            )
            for position, j, step, value, job_best in columns:
                job = by_index[j]
                if job.stopped is not None:
                    continue
                others = _arrive(state, job, step)
                if step >= warmup and len(others) >= min_jobs and job_best > _median(others):
                    job.stopped = self._stop(step, len(others), job_best)
                    state.stops[step] = state.stops.get(step, 0) + 1
                    _withdraw(state, job)
                    stops[j] = (position, job.stopped)
                    stopped[j] = True
                    continue
                _enter(others, job, step, value)
        # Each job's sums as of its last report observed (the one that stopped it, or its last).
        last = {
            j: int(order[start + count - 1])
            for j, start, count in zip(grouped[starts].tolist(), starts.tolist(), counts.tolist(), strict=True)
        }
        last.update({j: at for j, (at, _) in stops.items()})
        for j, job in by_index.items():
            at = last[j]
            job.total, job.count, job.best = float(totals[at]), int(numbers[at]), float(bests[at])
            state.jobs[ids[j]] = job
        return Built(state, stops)

    def rungs(self, state: PolicyState) -> list[dict[str, Any]]:
        assert isinstance(state, _State)  # noqa: S101 - built by new_state
        return [
            {"step": step, "jobs": count, "continued": count - state.stops.get(step, 0)}
            for step, count in sorted(state.reached.items())
        ]
