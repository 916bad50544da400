"""Population Based Training (PBT) as a pure scheduler.

The rules are PBT.md's, written for users in ``docs/pbt.md``; the numbers
in the comments below refer to them. In short, each call of
:meth:`PBT.decide` looks at the whole population and either

* samples a new member from ``init`` while the population is smaller than
  ``numParallel`` (rule 1),
* picks the idle member with the lowest generation (rule 3) and gives it
  its next interval: a retry after a failure (rule 10), an exploit of a
  better member followed by explore (rules 4-7), or a plain continuation
  (rule 8),
* answers "nothing now" when every unfinished member is busy, or
* declares the experiment done when every member reached
  ``maxGenerations`` (rule 9).

Nothing is remembered between calls: every fact (members, generations,
lineages, failures) is read back from the jobs of the snapshot, and every
random choice comes from the RNG the store passes in, so a decision is a
pure function of (settings, jobs, RNG state).

Member identity:
    Jobs this scheduler creates carry ``member`` and ``generation``; so do
    jobs added by hand, which the service names ``h0``, ``h1``… in order of
    addition (``store.jobs.next_hand_member``). A job without a member (added
    by hand before that) gets its identity derived on every call
    (:func:`member_ids`): the generation-1 job of a member named after the job id. Generated
    members are called ``m0``, ``m1``… (zero-padded to the width of
    ``numParallel - 1``), skipping every name already used by a member or a
    job id.
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, TypeGuard

from schedy.errors import DefinitionError
from schedy.pbt import MAXIMIZE, PBTParams, Perturb, is_worse
from schedy.random import Distribution, Integer, Uniform, active, flatten_space, sample_space
from schedy.server.schedulers.base import NOTHING, Decision, JobView, NewJob, Scheduler, Snapshot, as_number

__all__ = ["MAX_ATTEMPTS", "PBT", "generation_of", "member_ids"]

#: Consecutive failed attempts of one interval after which the member is
#: re-seeded from a top member instead of retried again (rule 10).
MAX_ATTEMPTS = 3

_DONE = "DONE"
# A PRUNED job counts as a failure (rule 10): its interval did not produce a
# model worth continuing.
_FAILED = frozenset({"CRASHED", "PRUNED"})


def generation_of(job: JobView) -> int:
    """Return the generation of ``job``; a job added by hand is an initial job (1)."""
    return 1 if job.generation is None else job.generation


def member_ids(jobs: Iterable[JobView]) -> dict[str, str]:
    """Map each job id to the id of the member it belongs to.

    ``jobs`` must be oldest first, as in :class:`Snapshot`. A job with a
    ``member`` belongs to it. A job without one was added by hand and starts
    a member of its own, named after the job id. In the rare case that a job
    id equals a member name already in use by an older job (a user chose the
    id), ``~2``, ``~3``… is appended, so that two lineages never merge. Since
    the answer depends only on older jobs, it is the same on every call.

    Example:
        >>> a = JobView("ExhnhQ", "DONE", {}, {}, 0.0)
        >>> b = JobView("Zt0cPw", "RUNNING", {}, {}, 1.0, member="ExhnhQ", generation=2)
        >>> member_ids([a, b])
        {'ExhnhQ': 'ExhnhQ', 'Zt0cPw': 'ExhnhQ'}

    """
    taken: set[str] = set()
    owners: dict[str, str] = {}
    for job in jobs:
        member = job.member
        if member is None:
            member, suffix = job.id, 2
            while member in taken:
                member, suffix = f"{job.id}~{suffix}", suffix + 1
        taken.add(member)
        owners[job.id] = member
    return owners


def _copy(mapping: Mapping[str, Any]) -> dict[str, Any]:
    # Deep, so that the new job never shares a nested list or object (e.g. a
    # checkpoint descriptor) with the job it was copied from; dict() first
    # because a read-only MappingProxy cannot be deep-copied.
    return copy.deepcopy(dict(mapping))


def _is_number(value: Any) -> TypeGuard[float]:
    # JSON true/false are bools, which Python counts as ints: never numbers here.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _quantile_size(n: int, proportion: float) -> int:
    """Return rule 5's k: ceil(n·p) capped at floor(n/2); 0 when fewer than 2 are ranked."""
    if n < 2:
        return 0
    # Rounding first keeps float noise (100 * 0.07 == 7.000000000000001) from
    # adding a member to the quantile.
    return min(math.ceil(round(n * proportion, 9)), n // 2)


class _Member:
    """One lineage of the population: its jobs, oldest first (never empty).

    Facts are cached: a decision asks for them many times, and the jobs never
    change during one.
    """

    def __init__(self, member_id: str, jobs: tuple[JobView, ...]) -> None:
        self.id = member_id
        self.jobs = jobs

    @property
    def latest(self) -> JobView:
        return self.jobs[-1]

    @cached_property
    def latest_done(self) -> JobView | None:
        return next((job for job in reversed(self.jobs) if job.status == _DONE), None)

    @cached_property
    def generation(self) -> int:
        """The generation of the latest DONE job; 0 before the first one."""
        return 0 if self.latest_done is None else generation_of(self.latest_done)

    @cached_property
    def busy(self) -> bool:
        # Anything neither DONE nor failed is in flight (QUEUED, RUNNING, or a
        # status this version does not know): never two jobs at once (rule 3).
        return any(job.status != _DONE and job.status not in _FAILED for job in self.jobs)

    @property
    def last_finished(self) -> float:
        latest = self.latest
        # A job created DONE by hand may have no finish time; its creation is the best stand-in.
        return latest.created_at if latest.finished_at is None else latest.finished_at


@dataclass(frozen=True)
class _Score:
    """A ranked member: its latest DONE job, and its objective at the ranking's generation.

    ``value`` is None when the objective is missing, not a number, NaN or ±infinity.
    """

    member: _Member
    latest_done: JobView
    value: float | None


class PBT(Scheduler):
    """``{"PBT": {...}}``: Population Based Training (Jaderberg et al. 2017).

    Attributes:
        params: the validated parameters.

    Example:
        >>> pbt = PBT.from_params({"objective": "max", "qualityResultName": "Q",
        ...                        "explore": {"h": {"perturb": {}}},
        ...                        "init": {"h": {"uniform": {"low": 0, "high": 1}}},
        ...                        "numParallel": 2, "maxGenerations": 3})
        >>> job = pbt.decide(Snapshot(), random.Random(0)).job
        >>> job.member, job.generation, job.parent
        ('m0', 1, None)

    """

    name = "PBT"
    reads_history = True
    can_end = True
    hand_jobs_start_members = True

    def __init__(self, params: PBTParams) -> None:
        self.params = params

    @classmethod
    def from_params(cls, params: Any) -> PBT:
        """Parse the wire parameters (see :meth:`schedy.pbt.PBTParams.from_wire`).

        Beyond what :class:`~schedy.pbt.PBTParams` checks, an explored
        hyperparameter must have an ``init`` distribution when ``init`` is
        given: sampled members would not carry it, so it could never move.
        """
        parsed = PBTParams.from_wire(params)
        if parsed.init:
            missing = sorted(set(parsed.explore) - {p.name for p in flatten_space(parsed.init)})
            if missing:
                raise DefinitionError(
                    f"PBT explore names {', '.join(map(repr, missing))}, which init does not sample; "
                    "add an init distribution for it or remove it from explore."
                )
        return cls(parsed)

    def to_params(self) -> dict[str, Any]:
        """Return the normalised wire parameters."""
        return self.params.to_wire()

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        """Choose the next interval to train; see the module docstring."""
        return _Step(self.params, snapshot.jobs, rng).decide()

    def target(self) -> tuple[str, str] | None:
        return self.params.result_name, "max" if self.params.objective == MAXIMIZE else "min"

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        """Refuse a hand-added job that lacks a number for an explored hyperparameter.

        Other hyperparameters are free: they travel unchanged along lineages.
        An explored hyperparameter of a branch (conditional) is needed only
        when the job's choices select that branch.
        """
        flat = flatten_space(self.params.init)
        conditional = {p.name for p in flat if p.parent is not None}
        present = {p.name for p in active(flat, hyperparameters)}
        required = [name for name in self.params.explore if name not in conditional or name in present]
        missing = sorted(set(required) - hyperparameters.keys())
        if missing:
            raise DefinitionError(
                "A job of a PBT experiment needs every explored hyperparameter; "
                f"missing {', '.join(map(repr, missing))}."
            )
        for name in required:
            if not _is_number(hyperparameters[name]):
                raise DefinitionError(
                    f"PBT explores '{name}' by multiplying it, so it must be a number, got {hyperparameters[name]!r}."
                )


class _Step:
    """One call of :meth:`PBT.decide`: the population indexed once, and the decision rules."""

    def __init__(self, params: PBTParams, jobs: tuple[JobView, ...], rng: random.Random) -> None:
        self.params = params
        self.rng = rng
        # Every init distribution by name, those of branches included (for explore's resample and clip).
        self._init = {p.name: p.dist for p in flatten_space(params.init)}
        self.by_id = {job.id: job for job in jobs}
        grouped: dict[str, list[JobView]] = {}
        owners = member_ids(jobs)
        for job in jobs:
            grouped.setdefault(owners[job.id], []).append(job)
        self.members = {name: _Member(name, tuple(member_jobs)) for name, member_jobs in grouped.items()}

    def decide(self) -> Decision:
        if self._wants_new_member():
            return Decision(job=self._new_member())
        unfinished = [m for m in self.members.values() if not self._finished(m)]
        if not unfinished:
            # An empty population is not finished: hand-added jobs may still come.
            return Decision(experiment_done=True) if self.members else NOTHING
        idle = [m for m in unfinished if not m.busy]
        if not idle:
            return NOTHING
        member = min(idle, key=lambda m: (m.generation, m.last_finished, m.id))
        if member.latest.status == _DONE:
            return self._next_interval(member, member.latest)
        return self._after_failure(member)

    # Rule 1: the initial population.

    def _wants_new_member(self) -> bool:
        # Hand-added members count towards numParallel: it is the population's size.
        size = self.params.population_size
        return bool(self.params.init) and size is not None and len(self.members) < size

    def _new_member(self) -> NewJob:
        hyperparameters = sample_space(self.params.init, self.rng)
        return NewJob(hyperparameters, member=self._fresh_member_id(), generation=1)

    def _fresh_member_id(self) -> str:
        size = self.params.population_size or 1
        width = len(str(size - 1))
        taken = self.members.keys() | self.by_id.keys()
        index = 0
        while f"m{index:0{width}d}" in taken:
            index += 1
        return f"m{index:0{width}d}"

    def _finished(self, member: _Member) -> bool:
        # Rule 9. ">=" so that lowering maxGenerations later finishes members past it.
        limit = self.params.max_generations
        return limit is not None and member.generation >= limit

    # Rules 4-8: after a DONE interval.

    def _next_interval(self, member: _Member, done: JobView) -> Decision:
        ranking = self._ranking(member.generation)
        source = self._exploit_source(member, ranking)
        if source is None:
            return Decision(job=self._continuation(member, done))
        return self._exploit(member, source, forced=False)

    def _ranking(self, generation: int) -> list[_Score]:
        """Members that reached ``generation``, best first, each scored at that generation (rules 4, 5).

        Members still behind are left out: their only scores are older, and
        against fresh ones a stale score ranks too low, so the chosen member
        would look better than it is and exploit too rarely (measured on the
        toy problem with 4 workers: median best Q 1.183 when they are ranked
        by their latest score, 1.193 when they are left out).
        """
        scores = []
        for member in sorted(self.members.values(), key=lambda m: m.id):
            done = member.latest_done
            if done is not None and member.generation >= generation:
                job = self._lineage_at(done, generation)
                scores.append(_Score(member, done, None if job is None else self._objective(job)))
        # A stable sort over member-id order: ties keep member-id order.
        scores.sort(key=self._sort_key)
        return scores

    def _lineage_at(self, job: JobView, generation: int) -> JobView | None:
        """Find the job at ``generation`` among ``job`` and its ancestors (parents cross members after exploits)."""
        current = job
        while generation_of(current) > generation:
            parent = None if current.parent is None else self.by_id.get(current.parent)
            # A deleted parent breaks the lineage; a parent that is not older
            # would be corrupt data, and following it could loop forever.
            if parent is None or generation_of(parent) >= generation_of(current):
                return None
            current = parent
        return current if generation_of(current) == generation else None

    def _objective(self, job: JobView) -> float | None:
        # An infinite objective is a diverged run, not the best (or worst) member: it ranks with NaN (rule 5).
        number = as_number(job.results.get(self.params.result_name))
        return None if number is None or not math.isfinite(number) else number

    def _sort_key(self, score: _Score) -> tuple[int, float]:
        if score.value is None:
            return (1, 0.0)  # missing, NaN or infinite ranks worst (rule 5)
        return (0, -score.value if self.params.objective == MAXIMIZE else score.value)

    def _exploit_source(self, member: _Member, ranking: list[_Score]) -> _Score | None:
        """Choose whom ``member`` exploits (rules 5, 6); None when it should not."""
        k = _quantile_size(len(ranking), self.params.exploit.proportion)
        position = next(i for i, score in enumerate(ranking) if score.member is member)
        if k == 0 or position < len(ranking) - k:
            return None
        candidates = [score for score in ranking[:k] if self._can_copy(score.member, member)]
        if not candidates:
            return None
        source = self.rng.choice(candidates)
        if not is_worse(ranking[position].value, source.value, self.params.objective):
            return None
        return source

    def _can_copy(self, source: _Member, member: _Member) -> bool:
        # Never go backwards (rule 6), and never copy a finished member: its
        # copy would train past maxGenerations (rule 9).
        return source is not member and source.generation >= member.generation and not self._finished(source)

    def _continuation(self, member: _Member, done: JobView) -> NewJob:
        """Rule 8: the same hyperparameters, one interval further from ``done``."""
        return NewJob(
            _copy(done.hyperparameters),
            _copy(done.results),
            member=member.id,
            generation=generation_of(done) + 1,
            parent=done.id,
        )

    def _exploit(self, member: _Member, source: _Score, *, forced: bool) -> Decision:
        """Rules 6, 7: continue the source's latest model as ``member``, with explored hyperparameters."""
        copied = source.latest_done
        hyperparameters = _copy(copied.hyperparameters)
        self._explore(hyperparameters)
        job = NewJob(
            hyperparameters,
            _copy(copied.results),
            member=member.id,
            generation=generation_of(copied) + 1,
            parent=copied.id,
        )
        event = {
            "kind": "exploit",
            "member": member.id,
            "sourceJob": copied.id,
            "sourceMember": source.member.id,
            "oldHyperparameters": _copy(member.latest.hyperparameters),
            "newHyperparameters": _copy(hyperparameters),
            "generation": job.generation,
            "forced": forced,
        }
        return Decision(job=job, events=(event,))

    # Rule 10: failures.

    def _after_failure(self, member: _Member) -> Decision:
        failed = member.latest
        if failed.attempt >= MAX_ATTEMPTS:
            source = self._reseed_source(member)
            if source is not None:
                return self._exploit(member, source, forced=True)
            # Nobody to copy (a population of one, or nobody has finished an
            # interval yet): retrying is the only way to keep the member.
        return Decision(job=self._retry(member, failed))

    def _retry(self, member: _Member, failed: JobView) -> NewJob:
        """Try the failed interval again: same hyperparameters, generation and parent, next attempt."""
        parent = None if failed.parent is None else self.by_id.get(failed.parent)
        # From the parent, not from the failed job, whose results the worker
        # may have half overwritten. An initial job has no parent: its retry
        # starts from scratch.
        results = {} if parent is None else _copy(parent.results)
        return NewJob(
            _copy(failed.hyperparameters),
            results,
            member=member.id,
            generation=generation_of(failed),
            parent=failed.parent,
            attempt=failed.attempt + 1,
            # Its attempts are listed with it; its checkpoints come from the parent too, not the failed job's.
            retry_of=failed.id,
            carry_artifacts=False,
        )

    def _reseed_source(self, member: _Member) -> _Score | None:
        """Choose a top member to copy, whatever the ranks: the forced exploit of rule 10.

        The quantile is taken among the members it may copy (rule 6's
        filter first), and is at least one, so that any member that can be
        copied is found even when the top ones are finished or behind.
        """
        ranking = self._ranking(max(member.generation, 1))
        candidates = [score for score in ranking if self._can_copy(score.member, member)]
        k = max(1, _quantile_size(len(ranking), self.params.exploit.proportion))
        return self.rng.choice(candidates[:k]) if candidates else None

    # Rule 7: explore.

    def _explore(self, hyperparameters: dict[str, Any]) -> None:
        for name, perturb in self.params.explore.items():
            value = hyperparameters.get(name)
            # check_new_job keeps non-numbers out; a job edited afterwards is left alone, not crashed on.
            if _is_number(value):
                hyperparameters[name] = self._perturbed(value, perturb, self._init.get(name))

    def _perturbed(self, value: float, perturb: Perturb, init: Distribution | None) -> float:
        resample = perturb.resample_probability
        # The coin is drawn only when resampling is possible, so that the
        # stream (and every later decision) is the same as without it.
        new: float
        if resample and init is not None and self.rng.random() < resample:
            new = init.sample(self.rng)
        else:
            new = _scaled(value, perturb.min_factor + (perturb.max_factor - perturb.min_factor) * self.rng.random())
        is_int = isinstance(value, int)
        if is_int:
            new = round(new)
        new = _in_float_range(new)
        bounds = init.bounds() if init is not None and perturb.clip else None
        if bounds is not None:
            new = _clip(new, bounds, is_int)
        return _on_grid(new, init, is_int)


#: The largest magnitude of a hyperparameter: the service refuses a number past a float's range in a job.
_FLOAT_MAX = sys.float_info.max
_INT_MAX = int(_FLOAT_MAX)
#: Integers up to this magnitude are floats exactly: their float product is kept, so a seed gives the run it gave.
_EXACT_FLOAT_INT = 2**53
_FRACTION_MAX = Fraction(_INT_MAX)


def _scaled(value: float, factor: float) -> float:
    """``value · factor``; an integer rounded to an integer, exactly when the float product cannot be."""
    if isinstance(value, int):
        if abs(value) <= _EXACT_FLOAT_INT:
            product = value * factor
            if math.isfinite(product):
                return round(product)
        # Past 2**53 the float product is off by units, and past 1.8e308 it is infinite, which round() refuses.
        return round(Fraction(value) * Fraction(factor))
    return value * factor


def _in_float_range(value: float) -> float:
    """``value`` clamped to the largest finite float: a perturbation past it is handed out at the edge, not as inf."""
    if isinstance(value, int):
        return max(-_INT_MAX, min(value, _INT_MAX))
    return value if math.isfinite(value) else math.copysign(_FLOAT_MAX, value)


def _on_grid(value: float, init: Distribution | None, is_int: bool) -> float:
    """``value`` moved to the nearest ``low + k·step`` of a stepped ``init`` (an integer, or a uniform with step).

    Only a value of the distribution's kind moves (an integer for ``integer``, a float for ``uniform``): an
    integer stays an integer. A value inside ``[low, high]`` (a clipped one) lands on one the distribution
    draws; past a bound (without clip) the grid goes on, up to a float's range.
    """
    if isinstance(init, Integer) and is_int and init.step > 1:
        k = _grid_index(Fraction(value), Fraction(init.low), Fraction(init.step), (init.high - init.low) // init.step)
        return init.low + k * init.step
    if isinstance(init, Uniform) and init.step is not None and not is_int and math.isfinite(value):
        # Decimal steps, as Uniform.at computes them: 0.3, not 0.30000000000000004.
        low, step = Fraction(repr(init.low)), Fraction(repr(init.step))
        last = round((init.high - init.low) / init.step)
        k = _grid_index(Fraction(value), low, step, last)
        # Inside the bounds, exactly the distribution's values (``at`` keeps the last one at ``high``).
        return init.at(k) if 0 <= k <= last else float(low + k * step)
    return value


def _grid_index(value: Fraction, low: Fraction, step: Fraction, last: int) -> int:
    """The ``k`` of the grid point ``low + k·step`` nearest ``value``; past ``[0, last]``, within a float's range."""
    k = round((value - low) / step)
    if 0 <= k <= last:
        return k
    return max(math.ceil((-_FRACTION_MAX - low) / step), min(k, math.floor((_FRACTION_MAX - low) / step)))


def _clip(value: float, bounds: tuple[float, float], is_int: bool) -> float:
    """Clip to ``[low, high]``; an integer to the integers inside (or the nearest one: it stays an integer)."""
    low, high = bounds
    if not is_int:
        return min(max(value, low), high)
    if math.ceil(low) <= math.floor(high):
        return min(max(value, math.ceil(low)), math.floor(high))
    return round(min(max(value, low), high))
