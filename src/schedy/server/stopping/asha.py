"""Asynchronous successive halving (Li et al., MLSys 2020) and Hyperband over it.

**ASHA.** Rungs sit at steps ``minStep · η^k`` (below ``maxStep`` when
given: a job at ``maxStep`` has had its full budget, nothing is saved by
stopping it). The first report of a job at or past a rung records its value there;
the job continues only if that value is among the best ``max(1, ⌊n/η⌋)`` of
the ``n`` values recorded at the rung so far (its own included). Nobody waits
for a rung to fill: early jobs compete with few, so the first job at each
rung continues (unless its value is missing or not finite: below), as in
the paper's asynchronous promotion. A job that
skips rungs (reporting every 10 steps against rungs at 1, 3, 9) is recorded
at each rung it passed, with the value of the report that passed it. A
stopped job's later reports (a worker that goes on, a report in flight)
are answered "stop" again and recorded at no further rung: they would
otherwise crowd the higher rungs with losers and loosen their quota.

A missing or non-finite value (NaN, ±inf: a diverged run) never goes on
from a rung, even as the first job there, where a lone value would be
"the best of 1": as Optuna's ``SuccessiveHalvingPruner`` prunes a NaN, and
a diverged run is worth no more steps. It is still recorded, worst, and
counts in ``n``: the job reached the rung and lost there, as a diverged
configuration sits at the bottom of a synchronous successive halving's
rung, so up to ``⌊n/η⌋`` finite jobs may go on beside it (Optuna records no
NaN, so its quota is a ``1/η`` of the finite values alone).

A job counts once per rung. The service names attempt ``n ≥ 2`` of a job
``J`` (set back to QUEUED: re-queued by hand or after a crash) ``J/n``
(``service/reports.py``, ``run_name``): a run of its own, judged afresh,
but when it passes a rung where an earlier attempt of ``J`` is recorded it
takes that entry's place (its value out of the rung's list, and out of the
rung's stops if it was stopped there) instead of adding a job: the rung
counts jobs, and an abandoned attempt's value no longer sits in its quota.

A report at or past ``maxStep`` is answered "continue" whatever its value:
the job has had its full budget, so stopping it would save nothing and only
end a finished training PRUNED (a job reporting every 2 steps passes rung 9
of rungs 1, 3, 9 at step 10 = ``maxStep``; one reporting only at the end
passes every rung there). It is still recorded at each rung it passed, and
counted there as continued: its value is what the rung's later arrivals
compete with, as it would be had the job reported at the rung's step.

**Hyperband.** Brackets ``b = 0 … s`` where ``s = ⌊log_η(maxStep/minStep)⌋``;
bracket ``b`` is an ASHA whose first rung is ``minStep · η^b``, so bracket 0
stops most aggressively and bracket ``s`` never stops (no rung at all,
whatever ``maxStep``: Hyperband's bracket of full-budget runs). A job's bracket is
chosen from its name in the reports (a hash of the job's key, so the same in every service process, no state)
(its attempts share it) with the weights of Hyperband's budget rule, ``(s+1)/(s-b+1) · η^(s-b)``:
aggressive brackets get more jobs, as in Li et al. (JMLR 2018).

Each rung keeps a sorted list of losses: a report costs a binary search
and an insertion per rung it passes.

**Building from many reports** (:meth:`ASHA.build`): only the report that
takes a job past a rung changes the rungs, and which report does is known
without the order of the other jobs (the job's first report at or past the
rung's step). So those reports are found with numpy, per rung, and only
they are visited, rung by rung (who records at a rung depends only on the
stops below it), in report order: about 1.5 per job for rungs 1, 3, 9 and
20 reports a job. The quota test is the same, on two heaps instead of the
sorted list (:class:`_Arrivals`), and each rung's list is sorted once.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from bisect import bisect_left, bisect_right, insort
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

__all__ = ["ASHA", "Hyperband"]


@dataclass
class _State(PolicyState):
    # (bracket, rung index) -> sorted losses recorded there
    rungs: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    # job -> index of the next rung it has not reached
    next_rung: dict[str, int] = field(default_factory=dict)
    # job -> the verdict that stopped it (its later reports are answered with it and recorded nowhere)
    stopped: dict[str, Verdict] = field(default_factory=dict)
    # (bracket, rung index) -> how many of the jobs recorded there were stopped there
    stops: dict[tuple[int, int], int] = field(default_factory=dict)
    # (job, rung index) -> (loss, stopped there) of its latest attempt recorded at that rung of its bracket
    entries: dict[tuple[str, int], tuple[float, bool]] = field(default_factory=dict)


def _job_of(run: str) -> str:
    """The job a run is an attempt of: the service names attempt ``n ≥ 2`` of job ``J`` ``"J/n"``."""
    return run.partition("/")[0]


def _ladder(min_step: int, eta: int, max_step: int | None) -> tuple[int, ...]:
    """Rung steps from ``min_step`` by factors of ``eta``, below ``max_step`` (bounded: at most 64 rungs).

    None at ``max_step`` itself: a job there has had its full budget, and stopping it would save nothing
    but end a finished training PRUNED.
    """
    steps: list[int] = []
    step = min_step
    while (max_step is None or step < max_step) and len(steps) < 64:
        steps.append(step)
        step *= eta
    return tuple(steps)


def _check_options(params: Any, allowed: set[str], what: str) -> None:
    if not isinstance(params, dict):
        raise DefinitionError(f'{what} takes an object, e.g. {{"resultName": "loss", "objective": "min"}}.')
    unknown = sorted(params.keys() - allowed)
    if unknown:
        raise DefinitionError(
            f"Unknown {what} option(s) {', '.join(map(repr, unknown))}; use {', '.join(sorted(allowed))}."
        )


class _Arrivals:
    """A rung's losses as they arrive in a bulk build, with the quota test of :meth:`ASHA.observe`.

    Two heaps instead of one sorted list: the ``kept`` best losses so far (negated, a max-heap) and the
    others (a min-heap, with a count of each value for ties), so an arrival costs O(log n), not a list
    insertion; ``kept`` only grows, by one at a time.
    """

    def __init__(self, eta: int) -> None:
        self.eta = eta
        self.losses: list[float] = []
        self.best: list[float] = []  # negated
        self.others: list[float] = []
        self.ties: dict[float, int] = {}  # value -> how many in ``others``

    def _other(self, loss: float) -> None:
        heapq.heappush(self.others, loss)
        self.ties[loss] = self.ties.get(loss, 0) + 1

    def add(self, loss: float) -> tuple[int, int, int] | None:
        """Record ``loss``; ``(kept, recorded, at least as good)`` if it is not among the best (a stop)."""
        self.losses.append(loss)
        n = len(self.losses)
        kept = max(1, n // self.eta)
        quota = (kept, n, n) if loss == math.inf else None  # a non-finite loss never goes on (all at least as good)
        if n > 1 and quota is None:
            # The kept-th best of the others: ``kept`` < n, so it is the largest of ``best``; ``loss`` is
            # not among the kept best of all if it is worse, and then the kept-th best stays the same.
            bar = -self.best[0]
            if bar < loss:
                quota = (kept, n, kept + self.ties.get(bar, 0) + (loss <= bar))
        if self.best and loss < -self.best[0]:
            self._other(-heapq.heappushpop(self.best, -loss))
        else:
            self._other(loss)
        keep = max(1, (n + 1) // self.eta)  # for the next arrival
        while len(self.best) < keep:
            moved = heapq.heappop(self.others)
            count = self.ties[moved] - 1
            if count:
                self.ties[moved] = count
            else:
                del self.ties[moved]
            heapq.heappush(self.best, -moved)
        return quota


class _Sorted:
    """A rung's losses in a bulk build as :meth:`ASHA._record` keeps them (a sorted list).

    For a rung where a job's later attempt takes an earlier one's place: a removal, which the heaps of
    :class:`_Arrivals` lack.
    """

    def __init__(self, eta: int) -> None:
        self.eta = eta
        self.losses: list[float] = []

    def remove(self, loss: float) -> None:
        del self.losses[bisect_left(self.losses, loss)]

    def add(self, loss: float) -> tuple[int, int, int] | None:
        """Record ``loss``; ``(kept, recorded, at least as good)`` if it is not among the best (a stop)."""
        recorded = self.losses
        insort(recorded, loss)
        kept = max(1, len(recorded) // self.eta)
        if math.isinf(loss):  # a non-finite loss never goes on, even first at the rung
            return kept, len(recorded), len(recorded)
        if loss > recorded[kept - 1]:
            return kept, len(recorded), bisect_right(recorded, recorded[kept - 1])
        return None


class ASHA(StoppingPolicy):
    """Asynchronous successive halving; see the module docstring."""

    name = "asha"

    def __init__(
        self,
        result_name: str,
        objective: str,
        min_step: int = 1,
        reduction_factor: int = 3,
        max_step: int | None = None,
    ) -> None:
        super().__init__(result_name, objective)
        self.min_step = min_step
        self.reduction_factor = reduction_factor
        self.max_step = max_step
        self._ladders = {0: _ladder(min_step, reduction_factor, max_step)}

    @classmethod
    def from_params(cls, params: Any) -> ASHA:
        what = "ASHA"
        _check_options(params, {"resultName", "objective", "minStep", "reductionFactor", "maxStep"}, what)
        result, objective = objective_of(params, what)
        min_step = positive_int(params, "minStep", 1, what)
        eta = positive_int(params, "reductionFactor", 3, what, minimum=2)
        max_step = params.get("maxStep")
        if max_step is not None:
            max_step = positive_int(params, "maxStep", None, what, minimum=min_step)
        return cls(result, objective, min_step, eta, max_step)

    def to_params(self) -> dict[str, Any]:
        return {
            "resultName": self.result_name,
            "objective": self.objective,
            "minStep": self.min_step,
            "reductionFactor": self.reduction_factor,
            "maxStep": self.max_step,
        }

    def new_state(self) -> PolicyState:
        return _State()

    def bracket_of(self, job: str) -> int:
        """The bracket of ``job`` (ASHA has one)."""
        return 0

    def observe(self, state: PolicyState, report: Report) -> Verdict:
        assert isinstance(state, _State)  # noqa: S101 - built by new_state
        stopped = state.stopped.get(report.job)
        if stopped is not None:
            return stopped
        bracket = self.bracket_of(report.job)
        ladder = self._ladders[bracket]
        index = state.next_rung.get(report.job, 0)
        loss = loss_of(report.value, self.objective)
        final = self._final(report.step)
        verdict = CONTINUE
        while index < len(ladder) and ladder[index] <= report.step:
            stop = self._record(state, report.job, bracket, index, loss, final=final)
            index += 1
            if stop is not None:
                verdict = stop
                break
        state.next_rung[report.job] = index
        return verdict

    def _final(self, step: int) -> bool:
        """Whether a report at ``step`` comes after the job's full budget (at or past ``maxStep``)."""
        return self.max_step is not None and step >= self.max_step

    def _record(self, state: _State, job: str, bracket: int, index: int, loss: float, *, final: bool) -> Verdict | None:
        """Record a job's loss at its rung ``index`` (as :meth:`observe` does); the verdict if it stops there.

        A ``final`` report (at or past ``maxStep``) is recorded but never stops its job: see the module docstring.
        """
        recorded = state.rungs.get((bracket, index))
        if recorded is None:
            recorded = state.rungs[(bracket, index)] = []
        entry = (_job_of(job), index)
        earlier = state.entries.get(entry)
        if earlier is not None:  # an earlier attempt of the job: this one takes its place
            del recorded[bisect_left(recorded, earlier[0])]
            if earlier[1]:
                state.stops[(bracket, index)] -= 1
        insort(recorded, loss)
        state.entries[entry] = (loss, False)
        if final:
            return None
        kept = max(1, len(recorded) // self.reduction_factor)
        if math.isinf(loss) or loss > recorded[kept - 1]:
            better = len(recorded) if math.isinf(loss) else bisect_right(recorded, recorded[kept - 1])
            verdict = self._stop(bracket, index, kept, len(recorded), better, loss)
            state.stopped[job] = verdict
            state.stops[(bracket, index)] = state.stops.get((bracket, index), 0) + 1
            state.entries[entry] = (loss, True)
            return verdict
        return None

    def _stop(self, bracket: int, index: int, kept: int, recorded: int, better: int, loss: float) -> Verdict:
        if loss == math.inf:
            return Verdict(
                True,
                f"At rung {self._ladders[bracket][index]} its {self.result_name} was missing or not finite (NaN or "
                "infinite): a diverged run never goes on.",
            )
        return Verdict(
            True,
            f"At rung {self._ladders[bracket][index]} its {self.result_name} was not among the best {kept} of "
            f"{recorded} jobs there ({better} at least as good).",
        )

    def build(self, reports: ReportArrays) -> Built:
        """The state :meth:`observe` reaches on ``reports``, visiting only the reports that pass a rung."""
        state = _State()
        jobs = np.unique(reports.job)  # the jobs that reported
        brackets = np.array([self.bracket_of(reports.job_ids[j]) for j in jobs.tolist()], dtype=np.int64)
        bracket_of_job = np.zeros(len(reports.job_ids), dtype=np.int64)
        bracket_of_job[jobs] = brackets
        depth = max(len(ladder) for ladder in self._ladders.values())
        # steps[b, k]: the step of bracket b's rung k (past every step where the bracket has no such rung)
        never = np.iinfo(np.int64).max
        steps = np.full((max(self._ladders) + 1, max(depth, 1)), never, dtype=np.int64)
        for bracket, ladder in self._ladders.items():
            steps[bracket, : len(ladder)] = [min(step, never) for step in ladder]
        report_bracket = bracket_of_job[reports.job]
        # Every (report, rung) that passes a rung if its job is not stopped before: the job's first report at
        # or past the rung's step (reports are in order, so np.unique's first index is the earliest).
        positions = []
        for index in range(depth):
            passing = np.flatnonzero(reports.step >= steps[report_bracket, index])
            if not len(passing):
                break
            _, first = np.unique(reports.job[passing], return_index=True)
            positions.append(passing[first])
        stops: dict[int, tuple[int, Verdict]] = {}
        bracket_of = dict(zip(jobs.tolist(), brackets.tolist(), strict=True))
        passed = dict.fromkeys(jobs.tolist(), 0)  # job index -> rungs passed
        ids = reports.job_ids
        # Rung by rung: who records at rung k depends only on the stops at the rungs below.
        for index, at in enumerate(positions):
            at = np.sort(at)  # in report order
            job_of = reports.job[at]
            if stops:
                alive = ~np.isin(job_of, np.fromiter(stops, dtype=np.int64, count=len(stops)))
                at, job_of = at[alive], job_of[alive]
            losses = losses_of(reports.value[at], self.objective).tolist()
            owners = [_job_of(ids[job]) for job in job_of.tolist()]
            # A rung where a job's later attempt takes an earlier one's place needs a removal: a sorted list there.
            again = len(set(owners)) < len(owners)
            arrivals: dict[int, _Arrivals | _Sorted] = {}
            columns = zip(at.tolist(), job_of.tolist(), owners, losses, reports.step[at].tolist(), strict=True)
            for position, job, owner, loss, step in columns:
                passed[job] = index + 1
                bracket = bracket_of[job]
                rung = arrivals.get(bracket)
                if rung is None:
                    eta = self.reduction_factor
                    rung = arrivals[bracket] = _Sorted(eta) if again else _Arrivals(eta)
                earlier = state.entries.get((owner, index))
                if earlier is not None:
                    assert isinstance(rung, _Sorted)  # noqa: S101 - a repeated owner makes `again`
                    rung.remove(earlier[0])
                    if earlier[1]:
                        state.stops[(bracket, index)] -= 1
                quota = rung.add(loss)
                stopped = quota is not None and not self._final(step)
                state.entries[(owner, index)] = (loss, stopped)
                if quota is not None and stopped:
                    verdict = self._stop(bracket, index, *quota, loss)
                    state.stopped[ids[job]] = verdict
                    state.stops[(bracket, index)] = state.stops.get((bracket, index), 0) + 1
                    stops[job] = (position, verdict)
            for bracket, rung in arrivals.items():
                state.rungs[(bracket, index)] = sorted(rung.losses)  # stable: the list insort makes
        state.next_rung = {reports.job_ids[job]: count for job, count in passed.items()}
        return Built(state, stops)

    def rungs(self, state: PolicyState) -> list[dict[str, Any]]:
        assert isinstance(state, _State)  # noqa: S101 - built by new_state
        # A job recorded at a rung is told there whether it goes on, once (never revoked): "continued" is
        # known for every rung, the last one too, and counts jobs still training towards the next rung.
        return [
            {
                "bracket": bracket,
                "step": self._ladders[bracket][index],
                "jobs": len(values),
                "continued": len(values) - state.stops.get((bracket, index), 0),
            }
            for (bracket, index), values in sorted(state.rungs.items())
        ]


class Hyperband(ASHA):
    """Hyperband's brackets, each an asynchronous successive halving; see the module docstring."""

    name = "hyperband"

    def __init__(
        self, result_name: str, objective: str, min_step: int, max_step: int, reduction_factor: int = 3
    ) -> None:
        super().__init__(result_name, objective, min_step, reduction_factor, max_step)
        top = 0
        while min_step * reduction_factor ** (top + 1) <= max_step:
            top += 1
        self.brackets = top + 1
        self._ladders = {b: _ladder(min_step * reduction_factor**b, reduction_factor, max_step) for b in range(top)}
        self._ladders[top] = ()  # the last bracket trains every job to max_step, as in Hyperband
        weights = [(top + 1) / (top - b + 1) * reduction_factor ** (top - b) for b in range(self.brackets)]
        total = sum(weights)
        bounds, acc = [], 0.0
        for weight in weights:
            acc += weight / total
            bounds.append(acc)
        bounds[-1] = 1.0
        self._bounds = tuple(bounds)

    @classmethod
    def from_params(cls, params: Any) -> Hyperband:
        what = "Hyperband"
        _check_options(params, {"resultName", "objective", "minStep", "reductionFactor", "maxStep"}, what)
        result, objective = objective_of(params, what)
        min_step = positive_int(params, "minStep", 1, what)
        if params.get("maxStep") is None:
            raise DefinitionError("Hyperband needs maxStep, the step at which a job has had its full budget.")
        max_step = positive_int(params, "maxStep", None, what, minimum=min_step)
        eta = positive_int(params, "reductionFactor", 3, what, minimum=2)
        return cls(result, objective, min_step, max_step, eta)

    def bracket_of(self, job: str) -> int:
        digest = hashlib.blake2b(_job_of(job).encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64
        for bracket, bound in enumerate(self._bounds):
            if point < bound:
                return bracket
        return self.brackets - 1
