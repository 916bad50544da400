"""What a search algorithm (scheduler) is, and what it may see and decide.

A scheduler is pure: the service hands it a frozen :class:`Snapshot` of the
experiment and a seeded :class:`random.Random`, and it returns a
:class:`Decision`. It never opens a database session or a connection, so it
is tested in microseconds and reasoned about alone. The claim
(:mod:`schedy.server.service.claims`) asks it only after finding no queued
job, and writes the decision down:

* ``Decision.job`` is created as a RUNNING job and handed to the worker;
  ``None`` means there is nothing to hand out now (the worker gets 204).
* ``Decision.experiment_done`` marks the experiment DONE (e.g. PBT reached
  ``maxGenerations``).
* ``Decision.events`` are recorded in the experiment's log (e.g. exploits).

The contract:

* **Two kinds.** A scheduler with ``reads_history = False`` (random search,
  manual) gets an empty snapshot and a fresh RNG; its decisions may carry a
  job and nothing else (no events, never DONE). It costs the same whatever
  the experiment's size and its claims run inline on the event loop (SQLite).
  A scheduler with ``reads_history = True`` (PBT; model-based searches) gets
  every job of the experiment, oldest first, from the process's history
  cache (:mod:`schedy.server.service.history`: refreshed by what changed
  since a watermark, never read whole per claim), the experiment's options,
  its fixed random ``key``, and an RNG of the decision's own, seeded by the
  key and the decision's number (so one worker with a ``seed`` option
  replays its search). Its claims run in the thread pool.
* **Decided outside the write lock, committed once.** ``decide`` runs
  outside any database lock. Its decision is committed only if no other
  decision was committed since the history was read; otherwise the claim
  reads again and calls ``decide`` again. So ``decide`` must be a function
  of (settings, snapshot, RNG): it may be called and its answer discarded.
* **Immutable and shared.** :func:`~schedy.server.schedulers.registry.load_scheduler`
  caches one instance per stored definition and shares it across
  experiments with that definition and across the threads of the service:
  a scheduler keeps nothing between calls and is frozen once built
  (assigning an attribute raises ``AttributeError``). Per-experiment state
  lives in the jobs and the experiment's random key.

A new algorithm is one module defining a subclass, plus one line in the
``SCHEDULERS`` table of :mod:`schedy.server.schedulers.registry` (there is no
registration at run time: every service process must know the same
algorithms).
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from schedy.errors import DefinitionError
from schedy.random import names_mismatch


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
        options: the experiment's options (``seed``, ``maxRetries``, …), as
            stored; empty for a scheduler that reads no history.
        key: the experiment's random base, the same at every decision of the
            experiment (from its ``seed`` option, else drawn at its first
            decision): what must stay fixed from one decision to the next
            (a quasi-random sequence's scramble, a grid's order) is derived
            from it, while the RNG passed to ``decide`` is new at each
            decision. 0 for a scheduler that reads no history.
        decisions: how many decisions of the experiment were committed
            before this one; unlike ``len(jobs)``, it never goes back when
            jobs are deleted.
        sequence_next: one past the highest point of the experiment's
            quasi-random sequence handed out so far, as the last decision
            that set :attr:`Decision.sequence_next` recorded it (0 before
            any). It never goes back, whatever jobs are added or deleted.

    """

    jobs: tuple[JobView, ...] = ()
    now: float = 0.0
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    key: int = 0
    decisions: int = 0
    sequence_next: int = 0


@dataclass(frozen=True)
class NewJob:
    """A job the scheduler wants created and handed out.

    ``retry_of``: the id of a failed job this one tries again (its
    ``attempt`` one more): the new job lists that job's attempts and, unless
    ``carry_artifacts`` is false, starts with its artifacts (its
    checkpoints), as a retry made by the lease sweep does.
    """

    hyperparameters: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    member: str | None = None
    generation: int | None = None
    parent: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    carry_artifacts: bool = True


@dataclass(frozen=True)
class Decision:
    """The outcome of one scheduling step; see the module docstring.

    ``sequence_next``: a decision handing out point *i* of a quasi-random
    sequence sets it to *i* + 1; the service records it with the decision
    (under the same compare-and-set), and the next decisions see it as
    :attr:`Snapshot.sequence_next`. ``None`` leaves it as it is.
    """

    job: NewJob | None = None
    experiment_done: bool = False
    events: tuple[Mapping[str, Any], ...] = ()
    sequence_next: int | None = None


NOTHING = Decision()


class Scheduler(ABC):
    """Base class of search algorithms.

    Subclasses set ``name`` (the wire key: ``{"RandomSearch": …}``) and
    implement :meth:`from_params`, :meth:`to_params` and :meth:`decide`.
    """

    name: ClassVar[str]
    #: Whether :meth:`decide` reads the experiment's jobs (see the module docstring).
    reads_history: ClassVar[bool] = False
    #: Whether a job added by hand starts a new member of a population (``h0``, ``h1``…, generation 1), as in
    #: PBT, where every job belongs to a member; the service names the member when it inserts the job.
    hand_jobs_start_members: ClassVar[bool] = False
    #: Whether :meth:`decide` hands out again, first, a CRASHED job that has ``maxRetries`` left (grid search):
    #: such a search is asked even once a ``maxJobs`` budget is spent, which limits new jobs only.
    retries_crashed_jobs: ClassVar[bool] = False
    #: Whether :meth:`decide` may end the search (``Decision.experiment_done``): the service's sweep then also
    #: asks it when the last job ended and no claim followed (a grid's last cell, PBT's last generation).
    can_end: ClassVar[bool] = False

    def freeze(self) -> None:
        """Refuse any later attribute assignment (done by ``load_scheduler``: instances are shared)."""
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Refuse assignments once frozen."""
        if self.__dict__.get("_frozen", False):
            raise AttributeError(f"A {type(self).__name__} is shared and immutable; build another instead.")
        object.__setattr__(self, name, value)

    @classmethod
    @abstractmethod
    def from_params(cls, params: Any) -> Scheduler:
        """Parse and validate the wire parameters.

        Raises:
            schedy.errors.DefinitionError: what is wrong, in one sentence.

        """

    @classmethod
    def from_stored(cls, params: Any) -> Scheduler:
        """Rebuild a stored scheduler: as :meth:`from_params`, unless a search reads its stored form leniently.

        A definition an earlier Schedy accepted may break a rule added since (a new bound): a search that
        can still run it overrides this to adapt it, so its claims go on after an upgrade.
        """
        return cls.from_params(params)

    @abstractmethod
    def to_params(self) -> Any:
        """The wire parameters, normalised (what the service stores and shows)."""

    @abstractmethod
    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        """Choose the next job when none is queued."""

    def target(self) -> tuple[str, str] | None:
        """``(result name, "min" or "max")`` when the search optimises a result, else ``None``.

        An early-stopping policy watching that result must rank it the same way.
        """
        return None

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Refuse a job added by hand that this search cannot use.

        Raises:
            schedy.errors.DefinitionError: why the job does not fit.

        """


def check_hyperparameter_names(given: Mapping[str, Any], expected: set[str], what: str) -> None:
    """Refuse hyperparameters that are not exactly ``expected``."""
    mismatch = names_mismatch(given.keys(), expected)
    if mismatch is not None:
        raise DefinitionError(f"{what} needs exactly the hyperparameters of its distributions: {mismatch}.")


def as_number(value: Any) -> float | None:
    """A JSON value as a float (NaN and ±Infinity kept), ``None`` if it is not a number (booleans are not).

    An integer past a float's range, which the service refuses today but older rows may hold, is ±Infinity.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
