"""What a search algorithm (scheduler) is, and what it may see and decide.

A scheduler is pure: the service hands it a frozen :class:`Snapshot` of the
experiment and a seeded :class:`random.Random`, and it returns a
:class:`Decision`. It never opens a database session or a connection, so it
is tested in microseconds and reasoned about alone. The store runs it inside
the ``nextjob`` transaction, after it found no queued job, and writes the
decision down:

* ``Decision.job`` is created as a RUNNING job and handed to the worker;
  ``None`` means there is nothing to hand out now (the worker gets 204).
* ``Decision.experiment_done`` marks the experiment DONE (e.g. PBT reached
  ``maxGenerations``).
* ``Decision.events`` are recorded in the experiment's log (e.g. exploits).

Schedulers with ``needs_population = True`` get every job of the experiment
in the snapshot, under a per-experiment lock, and a persistent RNG stream
(one per experiment, advanced only by their decisions). The others get an
empty snapshot and a fresh RNG, and cost the same whatever the size of the
experiment.

A new algorithm is one module defining a subclass, plus one line in
``schedy.server.schedulers.registry``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from schedy.errors import DefinitionError


@dataclass(frozen=True)
class JobView:
    """A read-only view of one job, as a scheduler sees it.

    Times are seconds since the epoch (database clock); ``None`` when not
    reached yet.
    """

    id: str
    status: str
    hyperparameters: Mapping[str, Any]
    results: Mapping[str, Any]
    created_at: float
    finished_at: float | None = None
    member: str | None = None
    generation: int | None = None
    parent: str | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Snapshot:
    """What a scheduler knows of its experiment when it decides.

    Attributes:
        jobs: every job of the experiment, oldest first (empty for
            schedulers that do not need the population).
        now: the database clock, seconds since the epoch.

    """

    jobs: tuple[JobView, ...] = ()
    now: float = 0.0


@dataclass(frozen=True)
class NewJob:
    """A job the scheduler wants created and handed out."""

    hyperparameters: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    member: str | None = None
    generation: int | None = None
    parent: str | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Decision:
    """The outcome of one scheduling step; see the module docstring."""

    job: NewJob | None = None
    experiment_done: bool = False
    events: tuple[Mapping[str, Any], ...] = ()


NOTHING = Decision()


class Scheduler(ABC):
    """Base class of search algorithms.

    Subclasses set ``name`` (the wire key: ``{"RandomSearch": …}``) and
    implement :meth:`from_params`, :meth:`to_params` and :meth:`decide`.
    """

    name: ClassVar[str]
    needs_population: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_params(cls, params: Any) -> Scheduler:
        """Parse and validate the wire parameters.

        Raises:
            schedy.errors.DefinitionError: what is wrong, in one sentence.

        """

    @abstractmethod
    def to_params(self) -> Any:
        """The wire parameters, normalised (what the service stores and shows)."""

    @abstractmethod
    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        """Choose the next job when none is queued."""

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Refuse a job added by hand that this search cannot use.

        Raises:
            schedy.errors.DefinitionError: why the job does not fit.

        """


def check_hyperparameter_names(given: Mapping[str, Any], expected: set[str], what: str) -> None:
    """Refuse hyperparameters that are not exactly ``expected``."""
    missing = sorted(expected - given.keys())
    extra = sorted(given.keys() - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(map(repr, missing)))
        if extra:
            parts.append("unknown " + ", ".join(map(repr, extra)))
        raise DefinitionError(f"{what} needs exactly the hyperparameters of its distributions: {'; '.join(parts)}.")
