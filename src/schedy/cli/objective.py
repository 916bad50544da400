"""The "best result" that ``schedy run`` and ``schedy watch`` show.

Which result counts, and whether lower or higher is better, comes from
``--minimize NAME`` / ``--maximize NAME``, or else from the experiment: a
PBT or TPE search's own objective, else the result and direction its
early-stopping policy names. Other experiments do not say, so without the
option no best is shown. A result that is missing, not a number, or NaN
never ranks (nor does ±Infinity, as in ``Experiment.best_job``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schedy import Experiment, Job
from schedy.cli.common import is_number
from schedy.cli.table import format_value
from schedy.pbt import MAXIMIZE

__all__ = ["Best", "Objective", "add_arguments", "objective_for"]


@dataclass(frozen=True)
class Objective:
    """A result name, and whether higher values are better."""

    result: str
    maximize: bool

    def score(self, results: dict[str, Any]) -> float | None:
        """The job's value of the result, if it is a number that can rank (finite, as in ``Experiment.best_job``)."""
        value: Any = results.get(self.result)
        if not is_number(value):
            return None
        try:
            number = float(value)
        except OverflowError:  # an integer past a float's range (older rows): infinite
            return None
        return number if math.isfinite(number) else None

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b


@dataclass
class Best:
    """The best job seen so far under an objective."""

    objective: Objective
    value: float | None = None
    job_id: str | None = None
    non_finite: int = 0  # jobs offered whose result is NaN or ±Infinity

    @classmethod
    def of_done(cls, objective: Objective, jobs: Iterable[Job]) -> Best:
        """The best of the DONE ``jobs`` (in order: the first of equals wins, as in ``Experiment.best_job``).

        Also counts those whose result is NaN or infinite (a training that diverged, not a misnamed result).
        """
        best = cls(objective)
        for job in jobs:
            if job.status == Job.DONE:
                best.offer(job.job_id, job.results)
        return best

    def offer(self, job_id: str, results: dict[str, Any]) -> None:
        """Consider one finished job."""
        score = self.objective.score(results)
        if score is None:
            self.non_finite += is_number(results.get(self.objective.result))
        elif self.value is None or self.objective.better(score, self.value):
            self.value, self.job_id = score, job_id

    def describe(self, done: int = 0) -> str:
        """E.g. ``best accuracy 0.97 (job K3x…)``; ``no accuracy yet``, or ``no accuracy in 15 done jobs`` (a slip).

        ``done`` is how many jobs ended DONE: when some did and none has the result as a number, the line says
        so instead of "yet" (its name is likely not the one the jobs use); when some have it but NaN or
        infinite (a training that diverged), it says that instead.
        """
        if self.value is None:
            if done > 0 and self.non_finite:
                return f"no finite {self.objective.result} yet ({_nan_jobs(self.non_finite)})"
            if done > 0:
                return f"no {self.objective.result} in {done} done job{'s' if done != 1 else ''}"
            return f"no {self.objective.result} yet"
        shown = format_value(self.value, precise=False)
        return f"best {self.objective.result} {shown} (job {self.job_id})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--minimize NAME`` and ``--maximize NAME`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--minimize",
        metavar="RESULT",
        help="Show the lowest value of this result as the best (default: a PBT or TPE search's objective, "
        "else the result its early-stopping policy names).",
    )
    group.add_argument("--maximize", metavar="RESULT", help="Show the highest value of this result as the best.")


def objective_for(args: argparse.Namespace, exp: Experiment | None) -> Objective | None:
    """The objective the options name, else the experiment's own (PBT, TPE, early stopping), else ``None``."""
    if args.minimize:
        return Objective(args.minimize, maximize=False)
    if args.maximize:
        return Objective(args.maximize, maximize=True)
    declared = exp.declared_objective() if exp is not None else None
    if declared is not None:
        return Objective(declared[0], maximize=declared[1] == MAXIMIZE)
    return None


def _nan_jobs(count: int) -> str:
    return f"{count} job{'s' if count != 1 else ''} with NaN or infinity"
