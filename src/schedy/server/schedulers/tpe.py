"""TPE (Tree-structured Parzen Estimator) as a pure scheduler, aware of the jobs in flight.

``{"TPESearch": {"distributions": {…}, "objective": "min", "resultName": "loss", …}}``
(:class:`schedy._search.TPEParams`). Each decision, from the history alone:

1. **Observations.** A DONE job with a finite number under ``resultName``
   is *ranked*. A PRUNED job carrying a finite number there (the last
   intermediate value a worker wrote before stopping, as the documented
   loop does) is ranked too, but *after* every DONE job, as Optuna ranks
   pruned trials below complete ones: it joins the good set only when
   fewer DONE jobs than γ(n) are ranked. A DONE job without a finite number
   (missing, NaN, ±infinity, not a number) and a PRUNED job without one are *bad*
   (worth steering away from). QUEUED and RUNNING jobs are *pending*: they
   join the bad set as if they had the worst value (constant liar, as
   Optuna 5's default), so parallel workers spread out instead of piling
   onto the same mode. CRASHED jobs are ignored (a crash says nothing
   about the objective). Jobs added by hand and imported DONE jobs count
   like any other (warm start).
2. **Startup.** Until ``nStartupJobs`` jobs are ranked or bad, the job is
   the next point of a scrambled Sobol (or Halton) sequence mapped through
   the distributions' inverse CDFs; its index is the number of jobs so far
   and its scramble comes from the experiment's random key
   (:attr:`Snapshot.key`: its ``seed`` option, else drawn at its first
   decision), the same at every decision, so the startup jobs are the
   first points of one sequence (``startup: "random"`` draws i.i.d. from
   the experiment's RNG stream instead).
3. **Split.** The best γ(n) = min(⌈0.1·n⌉, 25) of the n ranked jobs are *good*; the
   other ranked jobs, the bad and the pending ones make the rest. To bound
   the cost, at most ``maxObservations`` are modelled: every good one, then
   the most recent of the rest.
4. **Densities.** l(x) over the good jobs and g(x) over the rest are
   multivariate Parzen estimators (Falkner et al. 2018; Optuna's
   ``multivariate=True``): one product kernel per job plus a prior component
   of weight ``priorWeight``. Numerical hyperparameters get truncated
   Gaussians in their internal scale (log for log scales, cells of width
   ``step`` for integers and steps: a discrete value's density is its
   cell's mass); each kernel's bandwidth is the larger gap to its sorted
   neighbours in that dimension, clipped to [range/min(100, n+2), range]
   (Optuna 5's rule); the prior is centred with bandwidth = range.
   Categorical ones get Optuna's kernel (1 on the observed value, the prior
   weight spread evenly). Observations are weighted 1 when fewer than 25,
   else a ramp from 1/n to 1 over the oldest ones and 1 for the newest 25.
5. **Choice.** ``nEiCandidates`` candidates are drawn from l; the one
   maximising log l(x) − log g(x) is handed out.

Conditional spaces: a hyperparameter of a branch not taken by a job is
*inactive* for it; that job's kernel on that dimension is the prior's. A
candidate is compared only on the dimensions it has active.

Cost: the facts of each job (kind, score, encoding) are kept per experiment
between decisions and recomputed only for job views that are new or
changed since the last snapshot (a C-speed identity scan of the history);
the split is a few numpy passes; the model sees at most
``maxObservations`` jobs. So a decision costs O(n) numpy work plus the model,
whatever the history's length.

Randomness comes from the RNG the claim passes (one ``getrandbits(64)`` per
model-based decision seeds numpy), so one worker with a ``seed`` is
reproducible.
"""

from __future__ import annotations

import math
import operator
import random
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from schedy._search import MAXIMIZE, TPEParams, value_key, within_tpe_bounds
from schedy.errors import DefinitionError
from schedy.random import (
    Choice,
    Constant,
    FlatParam,
    Integer,
    LogUniform,
    Normal,
    Uniform,
    branch_key,
    check_space,
    flatten_space,
    sample_space,
)
from schedy.server.schedulers.base import Decision, JobView, NewJob, Scheduler, Snapshot, as_number
from schedy.server.schedulers.random_search import quasi_random_point, sequence_index

__all__ = ["TPE", "gamma", "weights"]

_PENDING = frozenset({"QUEUED", "RUNNING"})
_RANKED, _BAD, _PENDING_KIND, _IGNORED, _PRUNED_RANKED = 0, 1, 2, 3, 4
_KEPT = 64  # experiments whose job facts a scheduler keeps (least recently used go first)
_FLAT_WEIGHTS = 25
_EPS = 1e-12
#: Cells (candidates × components) of one block of :meth:`_Parzen.log_pdf`: its temporary arrays stay a few MiB
#: whatever ``nEiCandidates`` and ``maxObservations`` are (each row's density is independent of the others).
_BLOCK_CELLS = 1 << 18


def _ndtr(x: Any) -> Any:
    """The standard normal CDF, elementwise (:func:`scipy.special.ndtr`).

    scipy is imported at the first call, not with this module: every start of
    the service imports the schedulers, and most experiments never use TPE.
    """
    from scipy.special import ndtr

    return ndtr(x)


def _ndtri(p: Any) -> Any:
    """The inverse of :func:`_ndtr`, elementwise (:func:`scipy.special.ndtri`), imported at the first call."""
    from scipy.special import ndtri

    return ndtri(p)


def gamma(n: int) -> int:
    """How many of ``n`` ranked jobs are good: min(⌈0.1·n⌉, 25) (Optuna's default)."""
    return min(math.ceil(0.1 * n), 25)


def weights(n: int) -> NDArray[np.float64]:
    """Observation weights, oldest first: 1 below 25, else a ramp from 1/n to 1 then 25 ones (Optuna's)."""
    if n < _FLAT_WEIGHTS:
        return np.ones(n)
    ramp = np.linspace(1.0 / n, 1.0, num=n - _FLAT_WEIGHTS)
    return np.concatenate([ramp, np.ones(_FLAT_WEIGHTS)])


@dataclass(frozen=True)
class _Dim:
    """One modelled hyperparameter: its place in the space and its internal scale."""

    param: FlatParam
    categorical: bool
    low: float = 0.0  # internal bounds (cells included)
    high: float = 1.0
    n_choices: int = 0
    lookup: Mapping[Any, int] = field(default_factory=dict)  # a choice's values by value_key
    # A choice's weights, normalised to a mean of 1 (None: even); a value of weight 0 is never proposed.
    prior: tuple[float, ...] | None = None

    @property
    def name(self) -> str:
        return self.param.name

    def encode(self, value: Any) -> float:
        """Internal coordinate of ``value`` (categorical: its index); NaN when it does not fit."""
        dist = self.param.dist
        if self.categorical:
            try:
                return float(self.lookup.get(value_key(value), math.nan))
            except TypeError:
                return math.nan
        number = as_number(value)
        if number is None or not math.isfinite(number):
            return math.nan
        log = isinstance(dist, LogUniform) or (isinstance(dist, Integer) and dist.log)
        if log:
            if number <= 0:
                return math.nan
            return min(max(math.log(number), self.low), self.high)
        return min(max(number, self.low), self.high)

    def snap(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Coordinates moved to their value's: a discrete dimension's candidates are its values (as Optuna's)."""
        dist = self.param.dist
        if isinstance(dist, Integer) and dist.log:
            return np.asarray(np.log(np.clip(np.rint(np.exp(x)), dist.low, dist.high)))
        step = dist.step if isinstance(dist, (Integer, Uniform)) else None
        if step is None:
            return x
        assert isinstance(dist, (Integer, Uniform))  # noqa: S101 - has a step
        k = np.clip(np.rint((x - dist.low) / step), 0, round((dist.high - dist.low) / step))
        return np.asarray(dist.low + k * step)

    def cells(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """For a discrete dimension, the cell around each value's coordinate; ``None`` when continuous."""
        dist = self.param.dist
        if isinstance(dist, Integer):
            if dist.log:
                values = np.rint(np.exp(x))
                return np.log(np.maximum(values - 0.5, _EPS)), np.log(values + 0.5)
            return x - dist.step / 2, x + dist.step / 2
        if isinstance(dist, Uniform) and dist.step is not None:
            return x - dist.step / 2, x + dist.step / 2
        return None

    def decode(self, x: float) -> Any:
        dist = self.param.dist
        if self.categorical:
            assert isinstance(dist, Choice)  # noqa: S101 - built so
            return dist.values[int(x)]
        if isinstance(dist, Integer):
            if dist.log:
                return min(max(round(math.exp(x)), dist.low), dist.high)
            k = round((x - dist.low) / dist.step)
            return min(max(dist.low + k * dist.step, dist.low), dist.high)
        if isinstance(dist, Uniform):
            if dist.step is not None:
                last = round((dist.high - dist.low) / dist.step)
                return dist.at(min(max(round((x - dist.low) / dist.step), 0), last))
            return min(max(x, dist.low), dist.high)
        if isinstance(dist, LogUniform):
            return min(max(math.exp(x), dist.low), dist.high)
        return x


def _dim(param: FlatParam) -> _Dim | None:
    dist = param.dist
    if isinstance(dist, Constant):
        return None
    if isinstance(dist, Choice):
        prior = None
        if dist.weights is not None:
            total = sum(dist.weights)
            prior = tuple(w / total * len(dist.weights) for w in dist.weights)  # w * n may overflow
        return _Dim(
            param,
            True,
            n_choices=len(dist.values),
            lookup={value_key(v): i for i, v in enumerate(dist.values)},
            prior=prior,
        )
    if isinstance(dist, Uniform):
        half = 0.0 if dist.step is None else dist.step / 2
        return _Dim(param, False, dist.low - half, dist.high + half)
    if isinstance(dist, LogUniform):
        return _Dim(param, False, math.log(dist.low), math.log(dist.high))
    if isinstance(dist, Integer):
        if dist.log:
            return _Dim(param, False, math.log(dist.low - 0.5), math.log(dist.high + 0.5))
        return _Dim(param, False, dist.low - dist.step / 2, dist.high + dist.step / 2)
    if isinstance(dist, Normal):
        return _Dim(param, False, dist.mean - 5 * dist.std, dist.mean + 5 * dist.std)
    raise DefinitionError(f"TPESearch cannot model the distribution of '{param.name}' ({dist!r}).")


def _neighbour_sigmas(mus: NDArray[np.float64], low: float, high: float, n_kernels: int) -> NDArray[np.float64]:
    """Each kernel's bandwidth: the larger gap to its sorted neighbours (bounds as outer neighbours; Optuna's).

    The first and last take their inner gap only (``consider_endpoints=False``), then every bandwidth is
    clipped to [range / min(100, 1 + kernels), range] (the "magic clip").
    """
    if mus.size == 0:
        return mus
    order = np.argsort(mus)
    ends = np.concatenate([[low], mus[order], [high]])
    sigmas = np.maximum(ends[1:-1] - ends[:-2], ends[2:] - ends[1:-1])
    if ends.shape[0] >= 4:
        sigmas[0] = ends[2] - ends[1]
        sigmas[-1] = ends[-2] - ends[-3]
    out = np.empty_like(sigmas)
    out[order] = sigmas
    span = high - low
    return np.asarray(np.clip(out, span / min(100.0, 1.0 + n_kernels), span))


class _Parzen:
    """A multivariate Parzen estimator over encoded observations (rows), plus a prior component."""

    def __init__(self, dims: Sequence[_Dim], x: NDArray[np.float64], prior_weight: float) -> None:
        self.dims = dims
        n = x.shape[0]
        w = np.append(weights(n), prior_weight)
        self.log_w = np.log(w / w.sum())
        self.mus: list[NDArray[np.float64]] = []
        self.sigmas: list[NDArray[np.float64]] = []
        self.probs: list[NDArray[np.float64]] = []
        for j, dim in enumerate(dims):
            col = x[:, j]
            if dim.categorical:
                k = dim.n_choices
                prior = np.ones(k) if dim.prior is None else np.asarray(dim.prior)  # the choice's weights, if any
                table = np.tile(prior * (prior_weight / (n + 1)), (n + 1, 1))
                known = ~np.isnan(col)
                rows = np.nonzero(known)[0]
                table[rows, col[known].astype(int)] += 1.0
                table[~np.append(known, False)] = prior  # inactive there: the prior's row
                table[n] = prior
                # A value of weight 0 is never proposed, even if a job added by hand holds it.
                table[:, prior == 0] = 0.0
                self.probs.append(table / table.sum(axis=1, keepdims=True))
                self.mus.append(np.empty(0))
                self.sigmas.append(np.empty(0))
                continue
            span = dim.high - dim.low
            prior_mu, prior_sigma = (dim.low + dim.high) / 2, span
            known = ~np.isnan(col)
            sigma = np.full(n, prior_sigma)
            sigma[known] = _neighbour_sigmas(col[known], dim.low, dim.high, n + 1)
            mus = np.where(known, col, prior_mu)
            self.mus.append(np.append(mus, prior_mu))
            self.sigmas.append(np.append(sigma, prior_sigma))
            self.probs.append(np.empty((0, 0)))

    def sample(self, gen: np.random.Generator, size: int) -> NDArray[np.float64]:
        """``size`` points: a component each (by weight), then every dimension from that component's kernel."""
        comp = gen.choice(len(self.log_w), size=size, p=np.exp(self.log_w))
        out = np.empty((size, len(self.dims)))
        for j, dim in enumerate(self.dims):
            if dim.categorical:
                table = self.probs[j][comp]
                u = gen.random(size)[:, None]
                out[:, j] = np.minimum((table.cumsum(axis=1) < u).sum(axis=1), dim.n_choices - 1)
                continue
            mu, sigma = self.mus[j][comp], self.sigmas[j][comp]
            lo, hi = _ndtr((dim.low - mu) / sigma), _ndtr((dim.high - mu) / sigma)
            u = lo + (hi - lo) * gen.random(size)
            x = mu + sigma * _ndtri(np.clip(u, 1e-15, 1 - 1e-15))
            out[:, j] = dim.snap(np.clip(x, dim.low, dim.high))
        return out

    def log_pdf(self, x: NDArray[np.float64], active: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Log density of each row of ``x`` over its ``active`` dimensions, in blocks of bounded memory."""
        rows = max(1, _BLOCK_CELLS // max(1, len(self.log_w)))
        if x.shape[0] <= rows:
            return self._log_pdf(x, active)
        return np.concatenate(
            [self._log_pdf(x[i : i + rows], active[i : i + rows]) for i in range(0, x.shape[0], rows)]
        )

    def _log_pdf(self, x: NDArray[np.float64], active: NDArray[np.bool_]) -> NDArray[np.float64]:
        total = np.zeros((x.shape[0], len(self.log_w)))
        for j, dim in enumerate(self.dims):
            on = active[:, j]
            if not on.any():
                continue
            if dim.categorical:
                idx = np.where(on, x[:, j], 0).astype(int)
                part = np.log(self.probs[j][:, idx].T + 1e-300)
            else:
                mu, sigma = self.mus[j][None, :], self.sigmas[j][None, :]
                norm = _ndtr((dim.high - mu) / sigma) - _ndtr((dim.low - mu) / sigma)
                xs = x[:, j][:, None]
                cells = dim.cells(x[:, j])
                if cells is None:
                    z = (xs - mu) / sigma
                    part = -0.5 * z * z - np.log(sigma * math.sqrt(2 * math.pi)) - np.log(norm + 1e-300)
                else:
                    lo = np.maximum(cells[0], dim.low)[:, None]
                    hi = np.minimum(cells[1], dim.high)[:, None]
                    mass = _ndtr((hi - mu) / sigma) - _ndtr((lo - mu) / sigma)
                    part = np.log(np.maximum(mass, 1e-300)) - np.log(norm + 1e-300)
            total += np.where(on[:, None], part, 0.0)
        total += self.log_w[None, :]
        top = total.max(axis=1)
        return np.asarray(top + np.log(np.exp(total - top[:, None]).sum(axis=1)))


def _smallest(idx: NDArray[np.intp], score: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """The ``k`` entries of ``idx`` with the smallest ``score`` (ties: the lower index), in index order."""
    if k <= 0:
        return idx[:0]
    if idx.size <= k:
        return idx
    s = score[idx]
    kth = np.partition(s, k - 1)[k - 1]
    found = idx[s <= kth]
    if found.size > k:
        found = found[np.argsort(score[found], kind="stable")[:k]]
    return np.sort(found)


def _changed(old: tuple[JobView, ...], new: tuple[JobView, ...]) -> list[int]:
    """Positions (below ``len(old)``) whose view is not the same object in ``new``: a C-speed scan."""
    same = list(map(operator.is_, old, new))
    out: list[int] = []
    start = 0
    while True:
        try:
            start = same.index(False, start)
        except ValueError:
            return out
        out.append(start)
        start += 1


class _Columns:
    """The facts of one experiment's jobs, row ``i`` for the ``i``-th job of the last snapshot seen.

    ``kind`` and ``score`` (see :meth:`TPE._kind`) and ``x`` (the encoding) are pure functions of a job
    view. An update compares the new snapshot with the last one view by view (by identity: the history
    cache keeps a view until its job changes) and computes the rows of new or changed views only.
    """

    def __init__(self, n_dims: int) -> None:
        self.lock = threading.Lock()
        self.jobs: tuple[JobView, ...] = ()
        self.kind = np.empty(0, dtype=np.int8)
        self.score = np.empty(0)
        self.x = np.empty((0, n_dims))

    def update(self, jobs: Sequence[JobView], tpe: TPE) -> None:
        """Bring the rows up to date with ``jobs`` (caller holds the lock until it has split them)."""
        old, new = self.jobs, tuple(jobs)
        if old is new:
            return
        n, m = len(new), len(old)
        if m > n:  # jobs were deleted: positions moved
            m = 0
        if self.kind.shape[0] < n:
            size = max(n, 2 * self.kind.shape[0], 64)
            kind, score, x = np.empty(size, dtype=np.int8), np.empty(size), np.empty((size, self.x.shape[1]))
            kind[:m], score[:m], x[:m] = self.kind[:m], self.score[:m], self.x[:m]
            self.kind, self.score, self.x = kind, score, x
        for i in (*_changed(old[:m], new), *range(m, n)):
            job = new[i]
            self.kind[i], self.score[i] = tpe._kind(job)
            self.x[i] = tpe._encode_one(job)
        self.jobs = new

    def split(self, max_observations: int) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
        """(good, rest, finished): row indices oldest first, capped at ``max_observations`` (caller holds the lock).

        The good ones are the best γ(n) of the ``n`` ranked jobs, DONE ones first, then PRUNED ones by their
        value (as Optuna ranks pruned trials below complete ones); the rest are the most recent others.
        """
        n = len(self.jobs)
        kind, score = self.kind[:n], self.score[:n]
        ranked = np.flatnonzero(kind == _RANKED)
        pruned = np.flatnonzero(kind == _PRUNED_RANKED)
        finished = ranked.size + pruned.size + int(np.count_nonzero(kind == _BAD))
        k = gamma(ranked.size + pruned.size)
        good = _smallest(ranked, score, k)
        if good.size < k and pruned.size:
            good = np.sort(np.concatenate([good, _smallest(pruned, score, k - good.size)]))
        others = kind != _IGNORED
        others[good] = False
        room = max(max_observations - good.size, 0)
        rest = np.flatnonzero(others)
        rest = rest[rest.size - room :] if room < rest.size else rest
        return good, rest, finished


class TPE(Scheduler):
    """``{"TPESearch": {...}}``: see the module docstring.

    Example:
        >>> tpe = TPE.from_params({"distributions": {"x": {"uniform": {"low": 0, "high": 1}}},
        ...                        "objective": "min", "resultName": "loss"})
        >>> 0 <= tpe.decide(Snapshot(), random.Random(0)).job.hyperparameters["x"] < 1
        True

    """

    name = "TPESearch"
    reads_history = True

    def __init__(self, params: TPEParams) -> None:
        self.params = params
        self.flat = tuple(flatten_space(params.distributions))
        dims = [(i, _dim(p)) for i, p in enumerate(self.flat)]
        self.dims = tuple(d for _, d in dims if d is not None)
        self.constants = {p.name: p.dist.from_unit(0.0) for p in self.flat if isinstance(p.dist, Constant)}
        self._index = {d.name: j for j, d in enumerate(self.dims)}
        # The facts of each experiment's jobs (kind, score, encoding: pure functions of each job view), kept
        # from its last decision: the history cache keeps a view until its job changes, so a decision
        # computes only what is new. Decisions do not depend on it (a miss recomputes the same facts); it
        # is the only mutable part of a shared scheduler, behind locks.
        self._cache: OrderedDict[tuple[str, float], _Columns] = OrderedDict()
        self._columns_lock = threading.Lock()

    @classmethod
    def from_params(cls, params: Any) -> TPE:
        return cls(TPEParams.from_wire(params))

    @classmethod
    def from_stored(cls, params: Any) -> TPE:
        # A search stored by an earlier version past today's cost bounds runs at those bounds.
        return cls(TPEParams.from_wire(within_tpe_bounds(params)))

    def to_params(self) -> dict[str, Any]:
        return self.params.to_wire()

    def target(self) -> tuple[str, str] | None:
        return self.params.result_name, self.params.objective

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        check_space(hyperparameters, self.params.distributions, "A job of a TPE search")

    # -- observations ---------------------------------------------------------

    def _score(self, value: Any) -> float | None:
        """The value to minimise, from a job's result (``None``: missing, NaN, ±infinity or not a number).

        An infinite result is a diverged run, not a perfect one, whatever its sign and the objective: it is
        bad, as NaN is (as ``best_job`` and the stopping policies rank it).
        """
        number = as_number(value)
        if number is None or not math.isfinite(number):
            return None
        return -number if self.params.objective == MAXIMIZE else number

    def _kind(self, job: JobView) -> tuple[int, float]:
        """``(kind, score)`` of one job: see the module docstring."""
        status = job.status
        if status == "DONE":
            value = self._score(job.results.get(self.params.result_name))
            return (_BAD, 0.0) if value is None else (_RANKED, value)
        if status == "PRUNED":
            value = self._score(job.results.get(self.params.result_name))
            return (_BAD, 0.0) if value is None else (_PRUNED_RANKED, value)
        if status in _PENDING:
            return _PENDING_KIND, 0.0
        return _IGNORED, 0.0

    def _columns(self, jobs: Sequence[JobView]) -> _Columns:
        """The entry keeping the facts of this experiment's jobs (bring it up to date under its lock).

        Keyed by the first job's identity; a stale or wrong entry only costs recomputing what differs, since
        every row is checked against the view it was computed from.
        """
        key = (jobs[0].id, jobs[0].created_at) if jobs else ("", 0.0)
        with self._columns_lock:
            columns = self._cache.get(key)
            if columns is None:
                columns = self._cache[key] = _Columns(len(self.dims))
                while len(self._cache) > _KEPT:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        return columns

    def _split(self, jobs: Sequence[JobView]) -> tuple[list[JobView], list[JobView], int]:
        """(good, rest) oldest first, capped at ``maxObservations``, and how many jobs count as finished."""
        columns = self._columns(jobs)
        with columns.lock:
            columns.update(jobs, self)
            good, rest, finished = columns.split(self.params.max_observations)
        return [jobs[i] for i in good], [jobs[i] for i in rest], finished

    def _encode_one(self, job: JobView) -> NDArray[np.float64]:
        row = np.full(len(self.dims), np.nan)
        hps = job.hyperparameters
        for j, dim in enumerate(self.dims):
            if dim.name in hps and self._active_in(dim, hps):
                row[j] = dim.encode(hps[dim.name])
        return row

    @staticmethod
    def _active_in(dim: _Dim, hps: Mapping[str, Any]) -> bool:
        parent = dim.param.parent
        return parent is None or (parent in hps and branch_key(hps[parent]) in dim.param.keys)

    # -- decisions ------------------------------------------------------------

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        jobs = snapshot.jobs
        columns = self._columns(jobs)
        with columns.lock:
            columns.update(jobs, self)
            good, rest, finished = columns.split(self.params.max_observations)
            x_good, x_rest = columns.x[good], columns.x[rest]
        if finished < self.params.n_startup_jobs or not good.size or not self.dims:
            # The sequence's next point, never one handed out before (deleted jobs never bring theirs back).
            index = sequence_index(snapshot)
            return Decision(job=NewJob(self._startup(index, snapshot.key, rng)), sequence_next=index + 1)
        gen = np.random.default_rng(rng.getrandbits(64))
        below = _Parzen(self.dims, x_good, self.params.prior_weight)
        above = _Parzen(self.dims, x_rest, self.params.prior_weight)
        candidates = below.sample(gen, self.params.n_ei_candidates)
        active = self._active(candidates)
        score = below.log_pdf(candidates, active) - above.log_pdf(candidates, active)
        best = int(np.argmax(score))
        return Decision(job=NewJob(self._decode(candidates[best], active[best])))

    def _startup(self, index: int, key: int, rng: random.Random) -> dict[str, Any]:
        """Point ``index`` of the experiment's quasi-random sequence, scrambled by its ``key`` (or an i.i.d. draw)."""
        if self.params.startup == "random":
            return sample_space(self.params.distributions, rng)
        return quasi_random_point(self.flat, self.params.startup, index, key)

    def _active(self, x: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which dimensions each candidate has, given the choices it makes (parents come first)."""
        active = np.ones(x.shape, dtype=bool)
        for j, dim in enumerate(self.dims):
            parent = dim.param.parent
            if parent is None:
                continue
            p = self._index[parent]
            choice = self.dims[p].param.dist
            assert isinstance(choice, Choice)  # noqa: S101 - a parent is a choice
            keys = np.array([branch_key(v) in dim.param.keys for v in choice.values])
            active[:, j] = active[:, p] & keys[x[:, p].astype(int)]
        return active

    def _decode(self, x: NDArray[np.float64], active: NDArray[np.bool_]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for param in self.flat:
            if param.parent is not None and (
                param.parent not in out or branch_key(out[param.parent]) not in param.keys
            ):
                continue
            if param.name in self.constants:
                out[param.name] = self.constants[param.name]
                continue
            j = self._index[param.name]
            if active[j]:
                out[param.name] = self.dims[j].decode(float(x[j]))
        return out
