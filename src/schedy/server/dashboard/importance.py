"""Hyperparameter importance by PED-ANOVA (Watanabe et al., IJCAI 2023), with numpy.

PED-ANOVA asks, for each hyperparameter, how differently it is distributed
among the best jobs (the top ``γ' = 10 %`` by the objective) than among all
of them (``γ = 100 %``). With ``p`` the hyperparameter's density over all
jobs and ``p'`` over the best, its importance is the Pearson divergence

    (γ'/γ)² · ∫ (p'(x)/p(x) − 1)² p(x) dx,

which the paper shows to be the variance the hyperparameter explains of the
indicator "this job is among the best" (a local fANOVA over the top region);
the answer normalises them to sum to 1. It is the method of Optuna's
``PedAnovaImportanceEvaluator``; this is our own code, read for the formula only.

Densities are estimated on a discrete grid:

* numbers (uniform, log-uniform, integer, normal, or undeclared numbers) by a
  Gaussian kernel density on 50 points of their range, on a log scale when
  the distribution is logarithmic; the samples are first counted in 256
  bins so the cost does not grow with the grid;
* choices (and anything not a number) by smoothed counts per value;
* a hyperparameter some jobs lack (a conditional branch) gets one more cell,
  "absent", so a branch that only the best jobs take counts.

Jobs whose objective is missing, not a number, NaN or ±Infinity are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schedy.server.schedulers.base import as_number

__all__ = ["METHOD", "MIN_JOBS", "TOP_FRACTION", "Importance", "Kind", "evaluate", "space_kinds"]

METHOD = "PED-ANOVA"
#: The fraction of jobs counted as "the best" (the paper's γ').
TOP_FRACTION = 0.1
#: Fewer jobs with a finite objective give no importance (the top would be one job).
MIN_JOBS = 5
_GRID = 50
_BINS = 256
_ABSENT = object()


@dataclass(frozen=True)
class Kind:
    """How a hyperparameter is read: ``"linear"``, ``"log"`` or ``"category"``, with declared bounds if any."""

    scale: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Importance:
    """The outcome: the jobs used and each hyperparameter's importance (summing to 1), most important first."""

    jobs: int
    importances: list[tuple[str, float]]


def _is_number(value: Any) -> bool:
    number = as_number(value)
    return number is not None and math.isfinite(number)


def _all_numbers(values: Sequence[Any]) -> bool:
    """Whether every value is a finite int or float (not a bool), checked in bulk."""
    if not set(map(type, values)) <= {int, float}:
        return all(_is_number(v) for v in values)  # subclasses of int and float, bools among them
    return bool(np.isfinite(np.asarray(values, dtype=float)).all())


def _category_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True)


def _numeric_cells(values: np.ndarray) -> np.ndarray:
    """A kernel density of ``values`` (already in [0, 1]) on the grid, as probabilities of the grid cells."""
    grid = (np.arange(_GRID) + 0.5) / _GRID
    if len(values) == 0:
        return np.full(_GRID, 1.0 / _GRID)
    counts, edges = np.histogram(values, bins=_BINS, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    spread = float(np.std(values)) if len(values) > 1 else 0.5
    # Scott's rule on this set's size, never narrower than a grid cell.
    width = max(1.06 * max(spread, 1e-3) * len(values) ** -0.2, 1.0 / _GRID)
    kernel = np.exp(-0.5 * ((grid[:, None] - centres[None, :]) / width) ** 2)
    density = kernel @ counts.astype(float)
    density = density / density.sum()
    # A uniform prior of one job's weight: no cell is empty, so p'/p stays finite.
    prior = 1.0 / (len(values) + 1)
    cells: np.ndarray = (1 - prior) * density + prior / _GRID
    return cells


def _unit(values: np.ndarray, kind: Kind) -> np.ndarray:
    """``values`` (finite numbers) mapped to [0, 1] over the declared range widened to the observed one."""
    log = kind.scale == "log" and bool(np.all(values > 0)) and (kind.low is None or kind.low > 0)
    low = kind.low if kind.low is not None and math.isfinite(kind.low) else float(values.min())
    high = kind.high if kind.high is not None and math.isfinite(kind.high) else float(values.max())
    low, high = min(low, float(values.min())), max(high, float(values.max()))
    if log:
        values, low, high = np.log(values), math.log(low), math.log(high)
    if high <= low:
        return np.full(len(values), 0.5)
    unit: np.ndarray = (values - low) / (high - low)
    return unit


def _codes(observed: Sequence[Any]) -> tuple[np.ndarray, int]:
    """Each value's category as an index (equal values, by their JSON form, share one), and how many there are."""
    memo: dict[tuple[type, Any], int] = {}
    by_text: dict[str, int] = {}
    codes = np.empty(len(observed), dtype=np.intp)
    for i, value in enumerate(observed):
        if isinstance(value, (str, int, float)) or value is None:  # hashable and JSON-alike: no encoding needed
            key = (type(value), value)
            code = memo.get(key)
            if code is None:
                text = _category_key(value)
                code = memo[key] = by_text.setdefault(text, len(by_text))
        else:
            text = _category_key(value)
            code = by_text.setdefault(text, len(by_text))
        codes[i] = code
    return codes, len(by_text)


def _probabilities(column: Sequence[Any], kind: Kind, n: int, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities of a hyperparameter's cells among all ``n`` jobs and among the ``top`` ones.

    ``column`` holds each job's value (:data:`_ABSENT` where the job has none); a hyperparameter some
    jobs lack gets one more cell, "absent".
    """
    has = np.fromiter((v is not _ABSENT for v in column), dtype=bool, count=n)
    observed = [v for v in column if v is not _ABSENT]
    absent = len(observed) < n
    in_top = has[top]
    # Positions in `observed` of the top jobs that have the hyperparameter.
    rank = np.cumsum(has) - 1
    top_present = rank[top[in_top]]

    def share(cells: np.ndarray, present: int, size: int) -> np.ndarray:
        if not absent:
            return cells
        part = (present + 0.5) / (size + 1.0)
        return np.concatenate([cells * part, [1.0 - part]])

    if kind.scale == "category":
        codes, count = _codes(observed)
        width = count + (1 if absent else 0)

        def counted(chosen: np.ndarray, size: int) -> np.ndarray:
            counts = np.zeros(width)
            counts[:count] = np.bincount(chosen, minlength=count)
            if absent:
                counts[-1] = size - len(chosen)
            result: np.ndarray = (counts + 1.0 / width) / (size + 1.0)
            return result

        return counted(codes, n), counted(codes[top_present], len(top))
    unit = _unit(np.asarray(observed, dtype=float), kind)
    everyone = share(_numeric_cells(unit), len(observed), n)
    best = share(_numeric_cells(unit[top_present]), len(top_present), len(top))
    return everyone, best


def _kind_of(values: Sequence[Any], declared: Kind | None) -> Kind:
    """The declared kind, else: numbers linear (log when positive over two decades), anything else categories."""
    numbers = bool(values) and _all_numbers(values)
    if declared is not None and (declared.scale == "category" or numbers):
        return declared
    if numbers:
        low, high = min(values), max(values)
        return Kind("log" if low > 0 and high / low >= 100 else "linear")
    return Kind("category")


def evaluate(
    jobs: Sequence[tuple[Mapping[str, Any], Any]],
    direction: str,
    space: Mapping[str, Kind] | None = None,
) -> Importance:
    """The PED-ANOVA importance of every hyperparameter over ``(hyperparameters, objective value)`` pairs.

    ``direction`` is ``"min"`` or ``"max"``: the best jobs are the lowest or
    highest values. ``space`` gives the declared kind of each hyperparameter
    (others are read from their values). Fewer than :data:`MIN_JOBS` jobs
    with a finite objective give an empty list.
    """
    used = [(hp, float(v)) for hp, v in jobs if _is_number(v) and isinstance(hp, Mapping)]
    n = len(used)
    names = sorted({k for hp, _ in used for k in hp})
    if n < MIN_JOBS or not names:
        return Importance(n, [])
    objective = np.asarray([v for _, v in used])
    order = np.argsort(objective if direction == "min" else -objective, kind="stable")
    top = order[: max(2, math.ceil(TOP_FRACTION * n))]
    raw: list[tuple[str, float]] = []
    for name in names:
        column = [hp.get(name, _ABSENT) for hp, _ in used]
        observed = [v for v in column if v is not _ABSENT]
        kind = _kind_of(observed, (space or {}).get(name))
        if kind.scale != "category" and not _all_numbers(observed):
            kind = Kind("category")
        p, q = _probabilities(column, kind, n, top)
        gamma = len(top) / n
        raw.append((name, float(gamma**2 * np.sum(p * (q / p - 1.0) ** 2))))
    total = sum(v for _, v in raw)
    normalised = [(k, v / total if total > 0 else 0.0) for k, v in raw]
    normalised.sort(key=lambda kv: (-kv[1], kv[0]))
    return Importance(n, normalised)


def space_kinds(scheduler: Mapping[str, Any]) -> dict[str, Kind]:
    """The declared kind of each hyperparameter of an experiment's ``scheduler`` (as stored: ``{NAME: params}``).

    Mirrors the page's ``space.js``: a grid's list of values and a ``choice`` are
    categories (a grid's ``integer`` or stepped ``uniform``, kept compact, is read as
    that distribution), ``loguniform`` and a log ``integer`` logarithmic, the rest linear.
    """
    out: dict[str, Kind] = {}
    if not isinstance(scheduler, Mapping) or len(scheduler) != 1:
        return out
    [(name, params)] = scheduler.items()
    if not isinstance(params, Mapping):
        return out
    if name == "GridSearch":
        for k, v in params.items():
            if isinstance(v, list):
                out[k] = Kind("category")
            else:  # a range kept compact (an integer, a stepped uniform): read as that distribution
                _walk({k: v}, out)
        return out
    if name == "PBT":
        _walk(params.get("init"), out)
    elif isinstance(params.get("distributions"), Mapping):
        _walk(params["distributions"], out)
    else:
        _walk(params, out)
    return out


def _bound(args: Mapping[str, Any], key: str) -> float | None:
    value: Any = args.get(key)
    return float(value) if _is_number(value) else None


def _walk(space: Any, out: dict[str, Kind]) -> None:
    if not isinstance(space, Mapping):
        return
    for key, dist in space.items():
        if not isinstance(dist, Mapping) or len(dist) != 1:
            continue
        [(kind, args)] = dist.items()
        a = args if isinstance(args, Mapping) else {}
        if kind in ("uniform", "normal"):
            out[key] = Kind("linear", _bound(a, "low"), _bound(a, "high"))
        elif kind == "loguniform":
            out[key] = Kind("log", _bound(a, "low"), _bound(a, "high"))
        elif kind == "integer":
            out[key] = Kind("log" if a.get("log") else "linear", _bound(a, "low"), _bound(a, "high"))
        elif kind in ("const", "choice"):
            out[key] = Kind("category")
            branches = a.get("branches")
            if isinstance(branches, Mapping):
                for branch in branches.values():
                    _walk(branch, out)
