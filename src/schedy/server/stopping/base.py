"""What an early-stopping policy is: reports in, one verdict per report out.

A policy is pure, like a scheduler: it never opens a database session. The
service (:mod:`schedy.server.service.reports`) keeps, per process and per
experiment, a :class:`PolicyState` the policy builds and feeds it every
report of the experiment once, in the order the service learnt them
(:meth:`StoppingPolicy.observe`); the verdict for a worker's report is the
one returned when that report was observed. So a policy is tested by feeding
it sequences of :class:`Report` (no database), and the cost of a report does
not grow with the experiment: each policy keeps its statistics per step or
per rung, updated incrementally (sorted lists, ``bisect``).

Rules every policy follows:

* ``objective`` is ``"min"`` or ``"max"``; values are compared as losses
  (``-value`` for ``"max"``). NaN, ±inf and a missing metric rank worst
  (a diverged run is never the best).
* A job is never stopped twice: once a verdict says stop, the service
  remembers it on the job and answers every later report of that job
  "stop" without asking the policy again.
* The instance is immutable and shared by every experiment with the same
  definition and every thread; all per-experiment data lives in the state.

**Building a state from many reports** (a service process's first report
to an experiment, after a restart: 2M reports at 100k jobs of 20) goes
through :meth:`StoppingPolicy.build`, which takes the reports as arrays
(:class:`ReportArrays`) and returns the state :meth:`~StoppingPolicy.observe`
would have reached fed them one by one, with the first report that stopped
each job (a stopped job's later reports get the same verdict). The default
feeds them one by one; ASHA and the median rule compute the per-job series
with numpy and visit only what the order decides.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from schedy.errors import DefinitionError

__all__ = [
    "CONTINUE",
    "Built",
    "PolicyState",
    "Report",
    "ReportArrays",
    "StoppingPolicy",
    "Verdict",
    "losses_of",
    "loss_of",
    "objective_of",
    "positive_int",
]


@dataclass(frozen=True)
class Report:
    """One intermediate report of a job: its step and the value of the policy's result (``None`` if missing)."""

    job: str
    step: int
    value: float | None


@dataclass(frozen=True)
class Verdict:
    """Whether the job should stop, and why (one sentence for people)."""

    stop: bool
    reason: str | None = None


CONTINUE = Verdict(False)


class PolicyState:
    """Per-experiment statistics of a policy (each policy subclasses it)."""


def loss_of(value: float | None, objective: str) -> float:
    """A value as a loss (lower is better); missing and non-finite values become +inf (worst).

    An infinite value is a diverged run, not a perfect one, whatever its sign.
    """
    if value is None or not math.isfinite(value):
        return math.inf
    return value if objective == "min" else -value


def losses_of(values: npt.NDArray[np.float64], objective: str) -> npt.NDArray[np.float64]:
    """:func:`loss_of` of every value (NaN stands for a missing one)."""
    finite = np.isfinite(values)
    return np.where(finite, values if objective == "min" else -values, math.inf)


@dataclass(frozen=True)
class ReportArrays:
    """Reports in the order the service learnt them, one array entry per report (a bulk build's input)."""

    job_ids: Sequence[str]  # the id of each job index
    job: npt.NDArray[np.int64]  # each report's job index (into ``job_ids``)
    step: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]  # the policy's result; NaN where missing (ranked as NaN is: worst)

    def __len__(self) -> int:
        return len(self.job)

    def reports(self) -> list[Report]:
        """The same reports as :class:`Report` objects (``None`` for a missing value is ranked as NaN is)."""
        ids = self.job_ids
        return [
            Report(ids[j], s, v)
            for j, s, v in zip(self.job.tolist(), self.step.tolist(), self.value.tolist(), strict=True)
        ]


class Built(NamedTuple):
    """A state built from many reports, and the report (its index) that stopped each stopped job, by job index."""

    state: PolicyState
    stops: dict[int, tuple[int, Verdict]]


def objective_of(params: dict[str, Any], what: str) -> tuple[str, str]:
    """``(resultName, objective)`` of a policy's wire parameters, validated."""
    result = params.get("resultName")
    if not isinstance(result, str) or not result:
        raise DefinitionError(f"{what} needs resultName, the name of the reported metric it watches.")
    objective = params.get("objective")
    if objective not in ("min", "max"):
        raise DefinitionError(f'{what} needs objective "min" or "max", not {objective!r}.')
    return result, objective


def positive_int(params: dict[str, Any], key: str, default: int | None, what: str, *, minimum: int = 1) -> int:
    """An integer parameter of at least ``minimum`` (``default`` when absent)."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(f"{what}'s {key} must be an integer of at least {minimum}, not {value!r}.")
    return value


class StoppingPolicy(ABC):
    """Base class of early-stopping policies (see the module docstring)."""

    #: The wire key: ``{"earlyStopping": {"median": {...}}}``.
    name: ClassVar[str]

    def __init__(self, result_name: str, objective: str) -> None:
        self.result_name = result_name
        self.objective = objective

    @classmethod
    @abstractmethod
    def from_params(cls, params: Any) -> StoppingPolicy:
        """Parse and validate the wire parameters.

        Raises:
            schedy.errors.DefinitionError: what is wrong, in one sentence.

        """

    @abstractmethod
    def to_params(self) -> dict[str, Any]:
        """The wire parameters, normalised (what the service stores and shows)."""

    @abstractmethod
    def new_state(self) -> PolicyState:
        """Statistics of an experiment with no report yet."""

    @abstractmethod
    def observe(self, state: PolicyState, report: Report) -> Verdict:
        """Add ``report`` to ``state`` and say whether its job should stop."""

    def build(self, reports: ReportArrays) -> Built:
        """The state after observing ``reports`` one by one, and the first report that stopped each job.

        Equal to feeding them to :meth:`observe` (which this default does); a policy may compute it faster.
        """
        state = self.new_state()
        stops: dict[int, tuple[int, Verdict]] = {}
        for index, (job, report) in enumerate(zip(reports.job.tolist(), reports.reports(), strict=True)):
            verdict = self.observe(state, report)
            if verdict.stop and job not in stops:
                stops[job] = (index, verdict)
        return Built(state, stops)

    def rungs(self, state: PolicyState) -> list[dict[str, Any]]:
        """What the dashboard shows of the state (e.g. how many jobs reached each rung); empty by default."""
        return []
