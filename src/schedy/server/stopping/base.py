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
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from schedy.errors import DefinitionError

__all__ = ["CONTINUE", "PolicyState", "Report", "StoppingPolicy", "Verdict", "loss_of", "objective_of", "positive_int"]


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

    def rungs(self, state: PolicyState) -> list[dict[str, Any]]:
        """What the dashboard shows of the state (e.g. how many jobs reached each rung); empty by default."""
        return []
