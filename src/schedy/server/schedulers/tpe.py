"""TPE (Tree-structured Parzen Estimator) as a pure scheduler, aware of the jobs in flight.

``{"TPESearch": {"distributions": {…}, "objective": "min", "resultName": "loss", …}}``
(:class:`schedy._search.TPEParams`). Each decision, from the history alone:

1. **Observations.** A DONE job with a finite number under ``resultName``
   is *ranked*. A DONE job without one (missing, NaN, not a number) and a
   PRUNED job are *bad* (they are worth steering away from; a PRUNED job
   was stopped for being worse than its peers). QUEUED and RUNNING jobs are
   *pending*: they join the bad set as if they had the worst value
   (constant liar, as Optuna 5's default), so parallel workers spread out
   instead of piling onto the same mode. CRASHED jobs are ignored (a crash
   says nothing about the objective). Jobs added by hand and imported DONE
   jobs count like any other (warm start).
2. **Startup.** Until ``nStartupJobs`` jobs are ranked or bad, the job is
   the next point of a scrambled Sobol (or Halton) sequence mapped through
   the distributions' inverse CDFs; its index is the number of jobs so far
   and its scramble is drawn from a *copy* of the experiment's RNG stream,
   which startup never advances (so the sequence is the same at every
   decision, and seeded by the ``seed`` option).
3. **Split.** The best γ(n) = min(⌈0.1·n⌉, 25) ranked jobs are *good*; the
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

Randomness comes from the RNG the claim passes (one ``getrandbits(64)`` per
model-based decision seeds numpy), so one worker with a ``seed`` is
reproducible.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, ndtr, ndtri

from schedy._search import MAXIMIZE, TPEParams, value_key
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
from schedy.server.schedulers.base import Decision, JobView, NewJob, Scheduler, Snapshot
from schedy.server.schedulers.random_search import quasi_random_point

__all__ = ["TPE", "gamma", "weights"]

_PENDING = frozenset({"QUEUED", "RUNNING"})
_RANKED, _BAD, _PENDING_KIND, _IGNORED = 0, 1, 2, 3
_FLAT_WEIGHTS = 25
_EPS = 1e-12


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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return math.nan
        log = isinstance(dist, LogUniform) or (isinstance(dist, Integer) and dist.log)
        if log:
            if value <= 0:
                return math.nan
            return min(max(math.log(value), self.low), self.high)
        return min(max(float(value), self.low), self.high)

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
                k = min(max(round((x - dist.low) / dist.step), 0), round((dist.high - dist.low) / dist.step))
                return min(dist.low + k * dist.step, dist.high)
            return min(max(x, dist.low), dist.high)
        if isinstance(dist, LogUniform):
            return min(max(math.exp(x), dist.low), dist.high)
        return x


def _dim(param: FlatParam) -> _Dim | None:
    dist = param.dist
    if isinstance(dist, Constant):
        return None
    if isinstance(dist, Choice):
        return _Dim(
            param, True, n_choices=len(dist.values), lookup={value_key(v): i for i, v in enumerate(dist.values)}
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
                table = np.full((n + 1, k), prior_weight / (n + 1))
                known = ~np.isnan(col)
                rows = np.nonzero(known)[0]
                table[rows, col[known].astype(int)] += 1.0
                table[~np.append(known, False)] = 1.0  # inactive there: the prior's (even) row
                table[n] = 1.0
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
            lo, hi = ndtr((dim.low - mu) / sigma), ndtr((dim.high - mu) / sigma)
            u = lo + (hi - lo) * gen.random(size)
            x = mu + sigma * ndtri(np.clip(u, 1e-15, 1 - 1e-15))
            out[:, j] = np.clip(x, dim.low, dim.high)
        return out

    def log_pdf(self, x: NDArray[np.float64], active: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Log density of each row of ``x`` over its ``active`` dimensions."""
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
                norm = ndtr((dim.high - mu) / sigma) - ndtr((dim.low - mu) / sigma)
                xs = x[:, j][:, None]
                cells = dim.cells(x[:, j])
                if cells is None:
                    z = (xs - mu) / sigma
                    part = -0.5 * z * z - np.log(sigma * math.sqrt(2 * math.pi)) - np.log(norm + 1e-300)
                else:
                    lo = np.maximum(cells[0], dim.low)[:, None]
                    hi = np.minimum(cells[1], dim.high)[:, None]
                    mass = ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma)
                    part = np.log(np.maximum(mass, 1e-300)) - np.log(norm + 1e-300)
            total += np.where(on[:, None], part, 0.0)
        return np.asarray(logsumexp(total + self.log_w[None, :], axis=1))


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
        # A memo of pure functions of each job view (its kind, score and encoding), keyed by the view's
        # identity: the history cache keeps a view until its job changes, so a claim decodes only what is
        # new. Decisions do not depend on it (a miss recomputes the same facts); it is the only mutable
        # part of a shared scheduler, and dict operations are atomic under the GIL.
        self._memo: dict[int, tuple[JobView, int, float, NDArray[np.float64] | None]] = {}

    @classmethod
    def from_params(cls, params: Any) -> TPE:
        return cls(TPEParams.from_wire(params))

    def to_params(self) -> dict[str, Any]:
        return self.params.to_wire()

    def target(self) -> tuple[str, str] | None:
        return self.params.result_name, self.params.objective

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        check_space(hyperparameters, self.params.distributions, "A job of a TPE search")

    # -- observations ---------------------------------------------------------

    def _score(self, job: JobView) -> float | None:
        value = job.results.get(self.params.result_name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        try:
            number = float(value)
        except OverflowError:
            number = math.copysign(math.inf, value)
        if math.isnan(number):
            return None
        return -number if self.params.objective == MAXIMIZE else number

    def _facts(self, job: JobView) -> tuple[int, float]:
        """``(kind, score)`` of a job (kinds ``_RANKED``, ``_BAD``, ``_PENDING_KIND``, ``_IGNORED``), memoised."""
        hit = self._memo.get(id(job))
        if hit is not None and hit[0] is job:
            return hit[1], hit[2]
        status = job.status
        kind, score = _IGNORED, 0.0
        if status == "DONE":
            value = self._score(job)
            kind, score = (_BAD, 0.0) if value is None else (_RANKED, value)
        elif status == "PRUNED":
            kind = _BAD
        elif status in _PENDING:
            kind = _PENDING_KIND
        self._memo[id(job)] = (job, kind, score, None)
        return kind, score

    def _split(self, jobs: Sequence[JobView]) -> tuple[list[JobView], list[JobView], int]:
        """(good, rest) oldest first, capped at ``maxObservations``; and how many jobs count as finished.

        One pass over the jobs with memoised facts; the good ones by a bounded heap (γ ≤ 25); the rest
        are the most recent others, read backwards until the cap is reached.
        """
        if len(self._memo) > 2 * len(jobs) + 4096:
            self._memo.clear()  # views of jobs since changed or deleted
        memo = self._memo
        kinds = [_IGNORED] * len(jobs)
        ranked: list[tuple[float, int]] = []
        n_bad = 0
        for i, job in enumerate(jobs):
            hit = memo.get(id(job))
            if hit is not None and hit[0] is job:
                kind, score = hit[1], hit[2]
            else:
                kind, score = self._facts(job)
            kinds[i] = kind
            if kind == _RANKED:
                ranked.append((score, i))
            elif kind == _BAD:
                n_bad += 1
        finished = len(ranked) + n_bad
        good = sorted(i for _, i in heapq.nsmallest(gamma(len(ranked)), ranked))
        good_set = set(good)
        room = max(self.params.max_observations - len(good), 0)
        rest: list[int] = []
        for i in range(len(jobs) - 1, -1, -1):
            if len(rest) >= room:
                break
            if kinds[i] != _IGNORED and i not in good_set:
                rest.append(i)
        rest.reverse()
        return [jobs[i] for i in good], [jobs[i] for i in rest], finished

    def _encode(self, jobs: Sequence[JobView]) -> NDArray[np.float64]:
        x = np.full((len(jobs), len(self.dims)), np.nan)
        for r, job in enumerate(jobs):
            hit = self._memo.get(id(job))
            row = hit[3] if hit is not None and hit[0] is job else None
            if row is None:
                row = self._encode_one(job)
                if hit is not None and hit[0] is job:
                    self._memo[id(job)] = (job, hit[1], hit[2], row)
            x[r] = row
        return x

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
        good, rest, finished = self._split(snapshot.jobs)
        if finished < self.params.n_startup_jobs or not good or not self.dims:
            return Decision(job=NewJob(self._startup(len(snapshot.jobs), rng)))
        gen = np.random.default_rng(rng.getrandbits(64))
        below = _Parzen(self.dims, self._encode(good), self.params.prior_weight)
        above = _Parzen(self.dims, self._encode(rest), self.params.prior_weight)
        candidates = below.sample(gen, self.params.n_ei_candidates)
        active = self._active(candidates)
        score = below.log_pdf(candidates, active) - above.log_pdf(candidates, active)
        best = int(np.argmax(score))
        return Decision(job=NewJob(self._decode(candidates[best], active[best])))

    def _startup(self, index: int, rng: random.Random) -> dict[str, Any]:
        """Point ``index`` of the experiment's quasi-random sequence (or an i.i.d. draw)."""
        if self.params.startup == "random":
            return sample_space(self.params.distributions, rng)
        return quasi_random_point(self.flat, self.params.startup, index, rng)

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
