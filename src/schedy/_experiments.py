"""Experiments: a task, how to search its hyperparameters, and its jobs.

An experiment is built locally (``schedy.RandomSearch("MNIST", {...})``),
added to the service with :meth:`schedy.SchedyDB.add_experiment`, and read
back with :meth:`schedy.SchedyDB.get_experiment`, which returns the subclass
matching its scheduler. Its wire form is ``{"status": …, "scheduler":
{NAME: PARAMS}}``; the parameters are built from :mod:`schedy.random` and
:class:`schedy.pbt.PBTParams`, the same classes the service validates with.
"""

from __future__ import annotations

import copy
import logging
import math
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from schedy import _artifacts, _routes
from schedy._artifacts import Artifact
from schedy._encoding import shown
from schedy._jobs import Job, _time
from schedy._outage import Outage
from schedy._pagination import iter_items
from schedy._search import (
    MAX_GRID_CELLS,
    RANDOM_SAMPLERS,
    GridAxis,
    TPEParams,
    check_grid_cells,
    grid_axis,
    grid_too_large,
    random_search_from_wire,
    random_search_to_wire,
)
from schedy._transport import raise_for
from schedy.errors import (
    DefinitionError,
    HTTPError,
    NoJobError,
    SchedyError,
    UnhandledResponseError,
    UnsafeUpdateError,
)
from schedy.pbt import PBTParams, Perturb, Truncate
from schedy.random import Distribution, Integer, flatten_space, parse_distribution
from schedy.stopping import StoppingPolicy, parse_policy

if TYPE_CHECKING:
    import pandas

    from schedy._db import SchedyDB

__all__ = [
    "Experiment",
    "GridSearch",
    "ManualSearch",
    "PopulationBasedTraining",
    "RandomSearch",
    "TPESearch",
    "experiment_from_wire",
]

logger = logging.getLogger("schedy")

#: Keys of the experiment JSON that are not [ext] extras.
_CORE_KEYS = frozenset(("name", "status", "scheduler"))
#: Extras the service writes itself: not part of an experiment's definition.
_READ_ONLY_KEYS = frozenset(("createdAt", "updatedAt", "jobCounts", "jobsCreated"))
#: The options' attributes, by their wire names.
_OPTION_ATTRIBUTES = {
    "maxJobs": "max_jobs",
    "seed": "seed",
    "maxRetries": "max_retries",
    "maxRunTime": "max_run_time",
    "earlyStopping": "early_stopping",
    "sampler": "sampler",
}
#: The longest pause of :meth:`Experiment.jobs` between two empty polls.
_MAX_IDLE_PAUSE = 30.0
#: The longest ``wait`` one ``nextjob`` request asks for, seconds: the service's cap (its ``max_wait``,
#: docs/service.md), which keeps every poll bounded for proxies and for the service's own restarts. A
#: longer wait is spent in successive long polls of at most this long.
MAX_WAIT_PER_REQUEST = 60.0


#: The longest ``maxRunTime`` the service accepts, seconds (31 years; a lease past it would not fit a timestamp).
_MAX_RUN_TIME = 1e9


class Experiment:
    """An experiment: a named search over hyperparameters, and its jobs.

    Use a subclass to create one: :class:`ManualSearch`,
    :class:`RandomSearch` or :class:`PopulationBasedTraining`.
    :meth:`schedy.SchedyDB.get_experiment` returns a plain ``Experiment``
    only for a scheduler this client does not know; it keeps that
    scheduler's definition as is, so :meth:`push_updates` preserves it.

    Args:
        name: the experiment's name (any text; it is percent-encoded in URLs).
        status: :attr:`RUNNING`, or :attr:`DONE` to stop handing out jobs.
        early_stopping: a :mod:`schedy.stopping` policy the service applies
            to the jobs' reports (:meth:`schedy.Job.report`); every search
            takes it.
        max_jobs: how many jobs the search may create (see :attr:`max_jobs`);
            every search takes it.

    Attributes:
        name: the experiment's name.
        status: :attr:`RUNNING` or :attr:`DONE`.
        extra: the [ext] top-level keys of the experiment JSON (options such
            as ``seed`` or ``maxRetries``, and what the service adds such as
            ``createdAt``); sent back by :meth:`push_updates`.

    """

    #: Jobs are handed out.
    RUNNING: ClassVar[str] = "RUNNING"
    #: Done or paused: :meth:`next_job` hands out nothing.
    DONE: ClassVar[str] = "DONE"

    #: The scheduler's wire name (``{"Manual": null}`` → ``"Manual"``).
    scheduler_name: ClassVar[str | None] = None
    #: The attributes holding the search's definition (what a read-back copy is given to replace it).
    _search_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        name: str,
        status: str = RUNNING,
        *,
        early_stopping: StoppingPolicy | None = None,
        max_jobs: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        max_run_time: float | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"An experiment name must be a non-empty string, got {name!r}.")
        if status not in (Experiment.RUNNING, Experiment.DONE):
            raise DefinitionError(f"An experiment status must be RUNNING or DONE, got {status!r}.")
        self.name = name
        self.extra: dict[str, Any] = {}
        self._db: SchedyDB | None = None
        self._unknown_scheduler: tuple[str, Any] | None = None
        # The definition as the service last had it (read, added or pushed), and the fields assigned since:
        # push_updates sends only what differs or was assigned, so that it never undoes what another client
        # changed meanwhile (a pause, another option).
        self._synced: dict[str, Any] | None = None
        self._touched: set[str] = set()
        self.status = status
        if early_stopping is not None:
            self.early_stopping = early_stopping
        if max_jobs is not None:
            self.max_jobs = max_jobs
        if seed is not None:
            self.seed = seed
        if max_retries is not None:
            self.max_retries = max_retries
        if max_run_time is not None:
            self.max_run_time = max_run_time

    @property
    def status(self) -> str:
        """``RUNNING`` (jobs are handed out) or ``DONE`` (done or paused); settable, then :meth:`push_updates`."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        self._touched.add("status")

    @property
    def seed(self) -> int | None:
        """The ``seed`` option: one worker then replays the same search (settable; ``None``: unseeded).

        It seeds the service's random decisions (a random search's draws,
        TPE's, PBT's, a grid's order, a quasi-random sequence's scramble),
        as ``TPESampler(seed=…)`` does in Optuna.
        """
        value = self.extra.get("seed")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @seed.setter
    def seed(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63):
            raise DefinitionError(f"seed must be a non-negative integer (below 2**63) or None, not {value!r}.")
        self._set_option("seed", value)

    @property
    def max_retries(self) -> int | None:
        """The ``maxRetries`` option: how many times a crashed job is tried again (settable; ``None``: 0).

        A job whose lease lapsed (its worker vanished) is queued again as a
        new attempt; a grid also hands out again a cell whose job raised.
        """
        value = self.extra.get("maxRetries")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @max_retries.setter
    def max_retries(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DefinitionError(f"max_retries must be a non-negative integer or None, not {value!r}.")
        self._set_option("maxRetries", value)

    @property
    def max_run_time(self) -> float | None:
        """The ``maxRunTime`` option: seconds a job may stay RUNNING before it ends CRASHED (settable).

        It is the lease of a worker that sends no heartbeats (the 2018
        client's); one that does keeps its job as long as it beats.
        """
        value = self.extra.get("maxRunTime")
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @max_run_time.setter
    def max_run_time(self, value: float | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX_RUN_TIME
        ):
            raise DefinitionError(
                f"max_run_time must be a positive number of seconds (up to {_MAX_RUN_TIME:.0f}) or None, not {value!r}."
            )
        self._set_option("maxRunTime", value)

    def _set_option(self, key: str, value: Any) -> None:
        # None is sent as null, which unsets the option on the service (an absent key would keep it).
        self.extra[key] = value
        self._touched.add(key)

    @property
    def max_jobs(self) -> int | None:
        """The budget: how many jobs the search may create (the ``maxJobs`` option); settable.

        Once they are created, the service hands out queued jobs only, and
        the experiment becomes DONE when nothing is QUEUED or RUNNING, which
        ends the workers' :meth:`jobs` loops. Jobs added by hand and retries
        do not count.
        """
        value = self.extra.get("maxJobs")
        return value if isinstance(value, int) else None

    @max_jobs.setter
    def max_jobs(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31):
            raise DefinitionError(f"max_jobs must be a positive integer (below 2**31) or None, not {value!r}.")
        self._set_option("maxJobs", value)

    @property
    def early_stopping(self) -> StoppingPolicy | None:
        """The early-stopping policy (:mod:`schedy.stopping`), kept as the ``earlyStopping`` option; settable."""
        return parse_policy(self.extra.get("earlyStopping"))

    @early_stopping.setter
    def early_stopping(self, policy: StoppingPolicy | None) -> None:
        if policy is not None and not isinstance(policy, StoppingPolicy):
            raise DefinitionError(
                f"early_stopping must be a schedy.stopping policy (Median, ASHA, Hyperband), not {policy!r}."
            )
        self._set_option("earlyStopping", None if policy is None else policy.to_wire())

    # -- wire form ------------------------------------------------------------

    def _scheduler_params(self) -> Any:
        """Return the scheduler's parameters on the wire (subclasses)."""
        if self._unknown_scheduler is None:
            raise DefinitionError(
                "A plain Experiment has no search algorithm: use ManualSearch, RandomSearch or PopulationBasedTraining."
            )
        return self._unknown_scheduler[1]

    def _scheduler_wire(self) -> dict[str, Any]:
        name = self.scheduler_name if self._unknown_scheduler is None else self._unknown_scheduler[0]
        return {str(name): self._scheduler_params()}

    def _to_wire(self) -> dict[str, Any]:
        """Return the body of ``PUT experiments/NAME/``."""
        return {**self.extra, "status": self.status, "scheduler": self._scheduler_wire()}

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        """Build the experiment from its scheduler's wire parameters (subclasses)."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Experiment) or type(other) is not type(self):
            return NotImplemented
        return (self.name, self.status, self._scheduler_wire()) == (other.name, other.status, other._scheduler_wire())

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __deepcopy__(self, memo: dict[int, Any]) -> Experiment:
        """A copy of the definition, bound to the same :class:`SchedyDB` (a connection is not copied).

        What ``sklearn.base.clone`` does to the experiment of a
        :class:`~schedy.integrations.sklearn.SchedySearchCV`.
        """
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        for key, value in self.__dict__.items():
            setattr(twin, key, value if key == "_db" else copy.deepcopy(value, memo))
        return twin

    def _definition_difference(self, other: Experiment) -> str | None:
        """How ``other`` (the service's copy) is defined otherwise than this one, in words; ``None``: the same.

        The status is not part of the definition (a spent budget turns an
        experiment DONE), nor are the times and counts the service keeps.
        """
        mine, theirs = self._scheduler_wire(), other._scheduler_wire()
        if list(mine) != list(theirs):
            return f"it is a {_kind(other)} there, a {_kind(self)} here"
        where = self._search_difference(next(iter(mine.values())), next(iter(theirs.values())))
        if where is not None:
            path, here, there = where
            return f"its search differs at {path}: {shown(there)} there, {shown(here)} here"
        for key in sorted((set(self.extra) | set(other.extra)) - _READ_ONLY_KEYS):
            here, there = self.extra.get(key), other.extra.get(key)
            if here != there:
                return f"its option {key} is {shown(there)} there, {shown(here)} here"
        return None

    def _search_difference(self, here: Any, there: Any) -> tuple[str, Any, Any] | None:
        """Where two searches' parameters (wire forms) differ (a path and the two values), ``None``: nowhere."""
        return _first_difference(here, there)

    def _replacing_assignments(self, other: Experiment, stored: str, mine: str) -> list[str] | None:
        """The statements giving ``other`` (read back, named ``stored``) this definition (named ``mine``).

        What a user runs before ``stored.push_updates()`` to replace a definition while keeping the jobs;
        ``None`` when ``other`` is another kind of search, which a read-back experiment cannot become.
        """
        if type(other) is not type(self) or self._unknown_scheduler or other._unknown_scheduler:
            return None
        here, there = self._scheduler_params(), other._scheduler_params()
        attributes: list[str] = []
        if self._search_difference(here, there) is not None:  # the attributes that differ, else all of them
            attributes = [a for a in self._search_attributes if getattr(self, a) != getattr(other, a)]
            attributes = attributes or list(self._search_attributes)
        statements = [f"{stored}.{a} = {mine}.{a}" for a in attributes]
        for key in sorted((set(self.extra) | set(other.extra)) - _READ_ONLY_KEYS):
            if self.extra.get(key) == other.extra.get(key):
                continue
            option = _OPTION_ATTRIBUTES.get(key)
            if option is not None and hasattr(type(self), option):
                statements.append(f"{stored}.{option} = {mine}.{option}")
            else:
                statements.append(f"{stored}.extra[{key!r}] = {mine}.extra.get({key!r})")
        return statements

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, status={self.status!r}, scheduler={self._scheduler_wire()!r})"
        )

    # -- the service ----------------------------------------------------------

    def _require_db(self) -> SchedyDB:
        if self._db is None:
            raise SchedyError(
                f"Experiment {self.name!r} is not bound to a SchedyDB: add it with db.add_experiment(exp) "
                "or read it with db.get_experiment(name)."
            )
        return self._db

    def _path(self) -> str:
        return _routes.experiment(self.name)

    def push_updates(self) -> None:
        """Send the local definition's changes (status, scheduler, extras) to the service.

        Only what was assigned or changed since the experiment was read (or
        added, or last pushed) is sent: what another client changed
        meanwhile (a pause, another option, the search ending DONE) stays as
        it is, and the local copy takes it. An experiment deleted meanwhile is
        created again from the whole local definition.

        Example::

            exp = db.get_experiment("MNIST")
            exp.status = exp.DONE  # pause: next_job hands out nothing
            exp.push_updates()

        """
        db = self._require_db()
        whole = self._to_wire()
        body = whole if self._synced is None else self._changes(whole, self._synced)
        response = db._transport.request("PUT", self._path(), body, expect=(200, 201, 422))
        if response.status == 422:
            if "scheduler" in body or b"needs a scheduler" not in response.data:
                raise_for(response, "PUT", self._path())
            # Deleted since it was read: made again, as a push of the whole definition always did.
            response = db._transport.request("PUT", self._path(), whole, expect=(200, 201))
        self._take(response.json())

    def _changes(self, whole: dict[str, Any], synced: dict[str, Any]) -> dict[str, Any]:
        """The fields of ``whole`` assigned or changed since ``synced``; options dropped since are sent as null."""
        missing = object()
        changed = {
            key: value
            for key, value in whole.items()
            if key not in _READ_ONLY_KEYS and (key in self._touched or synced.get(key, missing) != value)
        }
        for key in synced.keys() - whole.keys() - _READ_ONLY_KEYS - _CORE_KEYS:
            changed[key] = None
        return changed

    def _take(self, answer: Any) -> None:
        """Adopt the service's status and options after a push (its definition now), and sync on it.

        The scheduler stays this copy's: another client's replacement of it is not undone by a later push.
        """
        if isinstance(answer, dict) and answer.get("status") in (Experiment.RUNNING, Experiment.DONE):
            self._status = answer["status"]
            self.extra = {key: value for key, value in answer.items() if key not in _CORE_KEYS}
        self._sync()

    def _sync(self) -> None:
        """Remember the definition as the service has it now; nothing assigned since."""
        self._synced = copy.deepcopy(self._to_wire())
        self._touched = set()

    def _bind(self, db: SchedyDB) -> None:
        """Bind to ``db``, as the service has the experiment now (just read or added)."""
        self._db = db
        self._sync()

    def delete(self, ensure: bool = True) -> None:
        """Delete the experiment and all its jobs from the service.

        Args:
            ensure: raise if it was already deleted (``If-Match: *``).

        Raises:
            schedy.errors.UnsafeUpdateError: ``ensure`` and it was gone.

        """
        headers = {"If-Match": "*"} if ensure else None
        response = self._require_db()._transport.request(
            "DELETE", self._path(), headers=headers, expect=(200, 204, 412)
        )
        if response.status == 412 and not response.replayed:
            error = UnsafeUpdateError(response.data.decode(errors="replace"), 412)
            error.args = (f"Experiment {self.name!r} was already deleted.",)
            raise error

    def add_job(
        self,
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        status: str = Job.QUEUED,
        results: Mapping[str, Any] | None = None,
    ) -> Job:
        """Add a job to the experiment; the service picks its id.

        A QUEUED job is handed out by :meth:`next_job` before any job the
        search would create. Other statuses record work done elsewhere.

        Example::

            exp.add_job(hyperparameters={"x": 1, "y": 2}, status=schedy.Job.DONE, results={"result": 5})

        """
        db = self._require_db()
        body = {"status": status, "hyperparameters": dict(hyperparameters or {}), "results": dict(results or {})}
        # Not replayed after a lost answer: a second POST would add a second job.
        response = db._transport.request("POST", self._path() + "jobs/", body, expect=(201, 200), replay=False)
        return Job._from_wire(self, response.json(), response.etag())

    def get_job(self, job_id: str) -> Job:
        """Read one job, with its ETag (so that :meth:`Job.put` is safe).

        Raises:
            schedy.errors.ClientRequestError: no such job (404).

        """
        db = self._require_db()
        response = db._transport.request("GET", _routes.job(self._path(), job_id))
        return Job._from_wire(self, response.json(), response.etag())

    def all_jobs(self) -> Iterator[Job]:
        """Iterate over every job of the experiment, oldest first.

        Pages are fetched as the iteration goes. Each job carries the ETag
        the service listed it with, so it can be updated safely with
        :meth:`Job.put` (services that list no ETags leave it ``None``).
        """
        db = self._require_db()
        for item in iter_items(db._transport, self._path() + "jobs/"):
            yield Job._from_wire(self, item, item.get("etag") if isinstance(item, dict) else None)

    def next_job(self, *, wait: float = 0.0, heartbeat: float | None = None, worker: str | None = None) -> Job:
        """Claim the next job to work on; it is always RUNNING.

        One request (``POST experiments/NAME/nextjob/``) claims the job
        atomically: no other worker can get it. Use it in a ``with``
        statement, which marks it DONE or CRASHED at the end.

        Args:
            wait: seconds to wait for a job to become available before
                answering that there is none (long polling). Any length: a
                wait past the service's cap for one request (60 s) is spent
                in successive requests, until a job comes, the wait is over,
                or the service answers at once (the experiment is DONE).
            heartbeat: seconds between heartbeats, from the claim to the end
                of ``with job:`` (default: the SchedyDB's ``heartbeat``; 0
                turns them off). The service ends the job (CRASHED) when
                heartbeats stop, so a crashed or frozen worker does not hold
                it for ever. A job dropped without being finished (no
                reference to it left) stops being beaten for, and its lease
                lapses.
            worker: this worker's name as the service records it
                (default: the SchedyDB's ``worker``, ``host:pid``).

        Raises:
            schedy.errors.NoJobError: no job to hand out (the queue is empty,
                the search has nothing to propose, or the experiment is DONE).

        Example::

            with exp.next_job() as job:
                job.results["loss"] = train(**job.hyperparameters)

        """
        db = self._require_db()
        interval = db.heartbeat if heartbeat is None else heartbeat
        options: dict[str, Any] = {"worker": worker or db.worker}
        if interval > 0:
            options["heartbeat"] = interval
        # Replaying a claim whose answer was lost leaks the job of the first
        # claim (RUNNING, but nobody works on it). With a lease the leak is
        # bounded: no heartbeat ever comes, so the service ends that job when
        # the lease lapses (CRASHED, endReason lease-expired; queued again if
        # the experiment has maxRetries), and replaying beats failing the
        # worker. Without a lease the job would stay RUNNING for good, so the
        # error is raised instead and the caller decides.
        transport = db._transport
        until = time.monotonic() + wait if wait > 0 else None
        poll = min(wait, MAX_WAIT_PER_REQUEST) if wait > 0 else 0.0
        while True:
            # The service refuses a wait past its cap (422): a longer one is spent in several polls.
            asked = time.monotonic()
            response = transport.request(
                "POST",
                self._path() + "nextjob/",
                {**options, "wait": poll} if poll > 0 else options,
                expect=(200, 204),
                replay=interval > 0,
                timeout=transport.timeout + poll,
            )
            if response.status != 204:
                break
            now = time.monotonic()
            # Answered well before its wait: the service holds no poll (the experiment is DONE); so is the next.
            if until is None or now >= until or now - asked < poll / 2:
                # Told DONE for free: the service answered a wait at once, or this copy last read it DONE.
                done = (until is not None and now - asked < poll / 2) or self.status == Experiment.DONE
                error = NoJobError("", 204)
                error.args = (self._no_job_message(done),)
                raise error
            poll = min(until - now, MAX_WAIT_PER_REQUEST)
        job = Job._from_wire(self, response.json(), response.etag())
        if job.status != Job.RUNNING:
            raise UnhandledResponseError(f"nextjob handed out job {job.job_id!r} as {job.status}, not RUNNING.", 200)
        if job.results:  # a PBT job's, copied from its parent: told apart from the values this job sets
            job._claimed_results = dict(job.results)
        if interval > 0:
            job._heartbeat = interval
            job._hold_lease()  # the lease runs from the claim, also while the worker sets up before with job:
        return job

    def _no_job_message(self, done: bool) -> str:
        if not done:
            return f"Experiment {self.name!r} has no job to hand out right now."
        return (
            f"Experiment {self.name!r} is DONE, so it hands out no jobs: to resume it, run "
            f"`schedy status {shlex.quote(self.name)} RUNNING`, "
            "or set exp.status = exp.RUNNING and call exp.push_updates()."
        )

    def jobs(
        self,
        *,
        wait: float = 20.0,
        idle_timeout: float | None = None,
        heartbeat: float | None = None,
        worker: str | None = None,
        max_time: float | None = None,
        max_jobs: int | None = None,
    ) -> Iterator[Job]:
        """Claim jobs one after the other, waiting for work when there is none.

        The worker loop. Each job yielded is RUNNING and claimed by this
        worker: finish it with ``with job:`` before asking for the next. When
        no job is available the service is long-polled (``wait``) and, if it
        answers at once, asked again after a pause growing from 50 ms to
        30 s, so idle workers cost little and pick up new work quickly.

        The iteration ends when the experiment is DONE (finished, its
        ``max_jobs`` budget spent, or paused by its owner), when a manual
        search has nothing QUEUED and nothing RUNNING, after
        ``idle_timeout`` seconds without a job, once ``max_time`` seconds
        have passed since the loop started, or after ``max_jobs`` jobs.

        Leaving the loop before a job's ``with job:`` (a ``break``, an exception) queues that job again
        for another worker when the generator is closed (at once in CPython), rather than leave it claimed
        until its lease lapses. To take a single job, use :meth:`next_job`, not ``next(exp.jobs())``.

        Args:
            wait: seconds each claim may wait for a job (any length: see :meth:`next_job`).
            idle_timeout: stop after this long without a job (default: never).
            max_time: claim no new job once this long has passed since the first claim (the job being
                worked on then is finished first): e.g. a cluster allocation's time limit minus a
                job's length (default: never; ``schedy run --max-time``).
            max_jobs: this worker's budget: claim no job after this many (the one yielded last is
                finished first; default: no limit; ``schedy run --max-jobs``). The search's own budget,
                shared by every worker, is the experiment's ``max_jobs``.
            heartbeat: as for :meth:`next_job`.
            worker: as for :meth:`next_job`.

        Example::

            for job in exp.jobs():
                with job:
                    job.results["loss"] = train(**job.hyperparameters)

        """
        if max_time is not None and (isinstance(max_time, bool) or not max_time > 0):
            raise ValueError(f"max_time must be a positive number of seconds, not {max_time!r}.")
        if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 0):
            raise ValueError(f"max_jobs must be a non-negative whole number of jobs, not {max_jobs!r}.")
        claimed = 0
        pause = 0.05
        idle_since = started = time.monotonic()
        outage = Outage("this worker waits for its next job")  # a restart of the service: wait, not end
        while True:
            asked = time.monotonic()
            if max_time is not None and asked - started >= max_time:
                return
            if max_jobs is not None and claimed >= max_jobs:
                return
            try:
                request_wait = self._claim_wait(wait, asked, started, max_time, idle_since, idle_timeout)
                job = self.next_job(wait=request_wait, heartbeat=heartbeat, worker=worker)
            except NoJobError:
                outage.over()
                try:
                    over = self._nothing_left()
                except HTTPError as away:  # away between the claim's answer and this look: wait as for a claim
                    time.sleep(max(0.0, outage.tolerate(away)))
                    continue
                if over:
                    return
                now = time.monotonic()
                if idle_timeout is not None and now - idle_since >= idle_timeout:
                    return
                if max_time is not None and now - started >= max_time:
                    return
                if now - asked < wait / 2 or wait <= 0:
                    # The service did not hold the request: pause here instead.
                    delay = pause if idle_timeout is None else min(pause, idle_since + idle_timeout - now)
                    if max_time is not None:
                        delay = min(delay, started + max_time - now)
                    time.sleep(max(0.0, delay))
                    pause = min(pause * 2, _MAX_IDLE_PAUSE)
                continue
            except HTTPError as away:
                delay = outage.tolerate(away)  # raises unless the service is away (no answer, 502-504)
                now = time.monotonic()
                if idle_timeout is not None and now - idle_since >= idle_timeout:
                    return
                time.sleep(max(0.0, delay if max_time is None else min(delay, started + max_time - now)))
                continue
            outage.over()
            pause = 0.05
            claimed += 1
            try:
                yield job
            except GeneratorExit:
                # The loop was left (break, an exception) before this job's ``with job:`` ran: queue it
                # again for another worker, as ``schedy run --requeue-on-interrupt`` does, rather than
                # leave it RUNNING (its heartbeats beating while this process lives) until its lease lapses.
                # A job whose block ran is no longer RUNNING; one still in its block (the generator closed
                # from inside it, rare) cannot be told from one never entered, and is queued again too.
                if job.status == Job.RUNNING and not job.lost:
                    job.status = Job.QUEUED
                    try:
                        job.put(safe=True)
                    except SchedyError:
                        job.status = Job.RUNNING
                        logger.warning("Could not queue job %s of %r again.", job.job_id, self.name, exc_info=True)
                raise
            idle_since = time.monotonic()

    @staticmethod
    def _claim_wait(
        wait: float, now: float, started: float, max_time: float | None, idle_since: float, idle_timeout: float | None
    ) -> float:
        """How long the worker loop's next claim may wait: ``wait``, cut short by ``max_time`` and ``idle_timeout``."""
        request_wait = wait
        if max_time is not None:
            request_wait = min(request_wait, started + max_time - now)
        if idle_timeout is not None:
            request_wait = min(request_wait, max(0.0, idle_since + idle_timeout - now))
        return request_wait

    def _refresh_status(self) -> str:
        db = self._require_db()
        data = db._transport.request("GET", self._path()).json()
        if isinstance(data, dict) and data.get("status") in (Experiment.RUNNING, Experiment.DONE):
            self.status = data["status"]
        return self.status

    def _nothing_left(self) -> bool:
        """After a claim found nothing: whether the worker loop is over.

        It is when the experiment is DONE (finished, its ``maxJobs`` budget
        spent, or paused), or when it is a manual search with nothing QUEUED
        and nothing RUNNING (no job can come back: a RUNNING one might be
        retried, so the loop waits while one runs).
        """
        db = self._require_db()
        data = db._transport.request("GET", self._path() + "?counts=true").json()
        if not isinstance(data, dict):
            return False
        if data.get("status") in (Experiment.RUNNING, Experiment.DONE):
            self.status = data["status"]
        if self.status == Experiment.DONE:
            return True
        counts = data.get("jobCounts")
        manual = isinstance(data.get("scheduler"), dict) and "Manual" in data["scheduler"]
        if not manual or not isinstance(counts, dict):
            return False
        return not counts.get(Job.QUEUED) and not counts.get(Job.RUNNING)

    def declared_objective(self) -> tuple[str, str] | None:
        """The result the search ranks jobs by and its direction (``"min"`` or ``"max"``), if it declares one.

        A TPE or PBT search's own objective; for any other search, the
        result and direction of its early-stopping policy; else ``None``.
        """
        own = self._search_objective()
        if own is not None:
            return own
        policy = self.early_stopping
        return None if policy is None else (policy.result_name, policy.objective)

    def _search_objective(self) -> tuple[str, str] | None:
        """The result and direction the search itself ranks DONE jobs by (TPE, PBT); ``None`` for the others."""
        return None

    def best_job(self, result_name: str | None = None, objective: str | None = None) -> Job | None:
        """The DONE job with the best value of a result; ``None`` while no DONE job has a value for it.

        By default the result and direction the experiment declares
        (:meth:`declared_objective`: a TPE or PBT search's objective, else
        its early-stopping policy's). Only DONE jobs rank (a PRUNED or
        CRASHED job's results are partial), and only finite numbers: a
        missing, non-numeric, NaN or infinite value never wins. Ties go to
        the oldest job. Reads every job (one request per page).

        Example::

            best = exp.best_job()                 # a TPE search: its own objective
            best = exp.best_job("accuracy", "max")
            print(best.hyperparameters, best.results)

        Args:
            result_name: the result to rank by (default: the declared one).
            objective: ``"min"`` or ``"max"`` (default: the declared
                direction, when ``result_name`` is the declared result).

        Raises:
            ValueError: no result or direction given, and none declared for it;
                or ``objective`` is neither ``"min"`` nor ``"max"``.

        """
        declared = self.declared_objective()
        if result_name is None:
            if declared is None:
                raise ValueError(
                    f"Experiment '{self.name}' declares no objective: name the result and its direction, "
                    "e.g. best_job('loss', 'min')."
                )
            result_name = declared[0]
        if objective is None:
            if declared is None or declared[0] != result_name:
                raise ValueError(f"Say whether lower or higher {result_name!r} is better: objective='min' or 'max'.")
            objective = declared[1]
        if objective not in ("min", "max"):
            raise ValueError(f"objective must be 'min' or 'max', not {objective!r}.")
        sign = 1.0 if objective == "min" else -1.0
        best: Job | None = None
        best_key = math.inf
        for job in self.all_jobs():
            value = job.results.get(result_name) if job.status == Job.DONE else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, int) and abs(value) > sys.float_info.max:  # past a float's range: infinite
                continue
            if not math.isfinite(value):
                continue
            if sign * value < best_key:
                best, best_key = job, sign * value
        return best

    def to_dataframe(self, reports: bool = False) -> pandas.DataFrame:
        """All jobs as a :class:`pandas.DataFrame`, one row per job, indexed by id.

        Columns: ``status``, then ``hyperparameters.NAME`` and
        ``results.NAME`` for every name seen, then the service's fields
        (``created_at``, ``worker``, ``generation``, ``end_reason``,
        ``stop_reason``…) that any job has, ``error`` when a crashed job's
        worker sent what it raised (``"ZeroDivisionError: division by zero"``:
        :attr:`schedy.Job.error`'s type and message), and ``artifacts`` and
        ``note`` when any job has one. Needs pandas (``pip install pandas``).

        With ``reports=True``, the jobs' intermediate reports instead
        (:meth:`schedy.Job.report`), in long form: one row per report, in the
        order received, with columns ``job``, ``attempt`` (the job's run that
        sent it: 2 and up once the job was set back to QUEUED), ``step``,
        ``time`` and ``metrics.NAME``; join it to the jobs' frame on ``job``.
        Without reports, the frame has those columns, typed as with reports
        (integer ``attempt`` and ``step``, UTC ``time``).

        Raises:
            ImportError: pandas is not installed.

        """
        from schedy._dataframe import jobs_to_dataframe, reports_to_dataframe

        if reports:
            return reports_to_dataframe(self.reports())
        return jobs_to_dataframe(self.all_jobs())

    def artifacts(self) -> dict[str, list[Artifact]]:
        """Every artifact of the experiment's jobs, by job id, each job's by name; jobs without any are absent.

        One request per page of the service's ``GET experiments/NAME/artifacts/``,
        not one per job. Download one with ``get_job(job_id).load_artifact(name)``
        (see docs/artifacts.md).

        Raises:
            schedy.errors.ClientRequestError: 404 if the experiment does not exist.

        """
        return _artifacts.by_job(self._require_db()._transport, self.name)

    def reports(self) -> Iterator[dict[str, Any]]:
        """Every intermediate report of the experiment's jobs, in the order the service received them.

        Each is ``{"job": id, "step": int, "time": datetime, "metrics": {name: value}, "attempt": int}``
        (``attempt``: the job's run that sent it, 2 and up once the job was set back to QUEUED);
        pages are fetched lazily.
        """
        path = _routes.experiment(self.name) + "reports/"
        for item in iter_items(self._require_db()._transport, path):
            yield {
                "job": item["job"],
                "step": item["step"],
                "time": _time(item["time"]),
                "metrics": item["metrics"],
                "attempt": item.get("attempt", 1),
            }

    def events(self) -> Iterator[dict[str, Any]]:
        """The search's event log, oldest first: e.g. every PBT exploit (who copied whom, at which generation).

        Each event is a dict with ``id``, ``time`` (a datetime) and the event's own fields
        (for a PBT exploit: ``kind``, ``member``, ``sourceJob``, ``sourceMember``, ``generation``…, see docs/pbt.md);
        pages are fetched lazily.
        """
        path = _routes.experiment(self.name) + "events/"
        for item in iter_items(self._require_db()._transport, path):
            event = {key: value for key, value in item.items() if key != "createdAt"}
            event["time"] = _time(item["createdAt"])
            yield event


class ManualSearch(Experiment):
    """An experiment whose jobs you add yourself (:meth:`Experiment.add_job`).

    :meth:`~Experiment.next_job` hands out the QUEUED jobs, oldest first.

    Example:
        >>> exp = ManualSearch("MinimizeSimple")
        >>> exp._to_wire()
        {'status': 'RUNNING', 'scheduler': {'Manual': None}}

    """

    scheduler_name = "Manual"

    def _scheduler_params(self) -> Any:
        return None

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        return cls(name, status=status)


class RandomSearch(Experiment):
    """Random search: each new job samples every distribution independently.

    Queued jobs are handed out first; then :meth:`~Experiment.next_job`
    creates a job by sampling.

    Args:
        name: the experiment's name.
        distributions: hyperparameter name → a :mod:`schedy.random` distribution.
        status: :attr:`~Experiment.RUNNING` or :attr:`~Experiment.DONE`.
        sampler: ``"iid"`` (independent draws, the default), or ``"sobol"`` /
            ``"halton"``: the jobs are the points of one scrambled
            low-discrepancy sequence, in order (seeded by the ``seed``
            option), which cover the space more evenly for the same budget;
            each point is handed out once, whatever the number of workers.

    Example:
        >>> from schedy.random import LogUniform, Choice
        >>> exp = RandomSearch("MNIST", {"lr": LogUniform(1e-5, 1e-1), "layers": Choice([2, 3, 4])})
        >>> exp._to_wire()["scheduler"]["RandomSearch"]["lr"]
        {'loguniform': {'low': 1e-05, 'high': 0.1}}
        >>> wire = RandomSearch("MNIST", {"lr": LogUniform(1e-5, 1e-1)}, sampler="sobol")._to_wire()
        >>> wire["scheduler"], wire["sampler"]
        ({'RandomSearch': {'lr': {'loguniform': {'low': 1e-05, 'high': 0.1}}}}, 'sobol')

    """

    scheduler_name = "RandomSearch"
    _search_attributes = ("distributions",)

    def __init__(
        self,
        name: str,
        distributions: Mapping[str, Distribution],
        status: str = Experiment.RUNNING,
        *,
        early_stopping: StoppingPolicy | None = None,
        max_jobs: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        max_run_time: float | None = None,
        sampler: str = "iid",
    ) -> None:
        super().__init__(
            name,
            status,
            early_stopping=early_stopping,
            max_jobs=max_jobs,
            seed=seed,
            max_retries=max_retries,
            max_run_time=max_run_time,
        )
        self.distributions = _mapping(distributions, "RandomSearch", "distributions", "{'lr': LogUniform(1e-5, 1e-1)}")
        if sampler != "iid":
            self.sampler = sampler
        self._scheduler_params()  # validate now, not at the first request

    @property
    def sampler(self) -> str:
        """``"iid"``, ``"sobol"`` or ``"halton"``: the top-level ``sampler`` key of the experiment JSON.

        On the wire it sits beside the scheduler, not inside ``RandomSearch``'s parameters, which the 2018
        client reads as the space. Assign and :meth:`push_updates` to change it.
        """
        value = self.extra.get("sampler")
        return "iid" if value is None else str(value)

    @sampler.setter
    def sampler(self, value: str) -> None:
        if value not in RANDOM_SAMPLERS:
            raise DefinitionError(f"RandomSearch sampler must be one of {', '.join(RANDOM_SAMPLERS)}, got {value!r}.")
        self._set_option("sampler", None if value == "iid" else value)

    def _scheduler_params(self) -> Any:
        for hp, dist in self.distributions.items():
            if not isinstance(dist, Distribution):
                raise DefinitionError(
                    f"Hyperparameter {hp!r}: expected a schedy.random distribution, got {type(dist).__name__}."
                )
        flatten_space(self.distributions)  # a name used twice across branches, as the service would say
        return random_search_to_wire(self.distributions, "iid")

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        # The sampler is a top-level key (``extra``); a service of this development cycle sent it inside.
        distributions, sampler = random_search_from_wire(params)
        return cls(name, distributions, status=status, sampler=sampler)


class GridSearch(Experiment):
    """Grid search: every combination of the listed values, each handed out exactly once.

    The service hands out the cells in a shuffled order (seeded by the
    experiment's ``seed`` option), never the same cell twice whatever the
    number of workers, retries a CRASHED cell per ``maxRetries``, and marks
    the experiment DONE once every cell has finished.

    Args:
        name: the experiment's name.
        grid: hyperparameter name → its values: a list, or a :mod:`schedy.random`
            distribution with finitely many (``Choice``, ``Constant``,
            ``Integer``, ``Uniform`` with ``step``). Continuous distributions
            are refused. An ``Integer``, a stepped ``Uniform`` and a ``range``
            are sent as the distribution, not as the list of their values
            (a grid of a million values is a few bytes); read back, they are
            distributions in :attr:`grid`.
        status: :attr:`~Experiment.RUNNING` or :attr:`~Experiment.DONE`.

    Example:
        >>> from schedy.random import Integer
        >>> exp = GridSearch("Grid", {"lr": [0.1, 0.01], "layers": Integer(1, 3)})
        >>> exp._to_wire()["scheduler"]["GridSearch"]
        {'lr': [0.1, 0.01], 'layers': {'integer': {'low': 1, 'high': 3}}}

    """

    scheduler_name = "GridSearch"
    _search_attributes = ("grid",)

    def __init__(
        self,
        name: str,
        grid: Mapping[str, Any],
        status: str = Experiment.RUNNING,
        *,
        early_stopping: StoppingPolicy | None = None,
        max_jobs: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        max_run_time: float | None = None,
    ) -> None:
        super().__init__(
            name,
            status,
            early_stopping=early_stopping,
            max_jobs=max_jobs,
            seed=seed,
            max_retries=max_retries,
            max_run_time=max_run_time,
        )
        self.grid = _mapping(grid, "GridSearch", "grid", "{'lr': [0.1, 0.01], 'batch_size': [32, 64]}")
        self._scheduler_params()  # validate now, not at the first request

    def _grid_axes(self) -> dict[str, GridAxis]:
        """Each hyperparameter's values, checked and never listed when a distribution gives them."""
        if not self.grid:
            raise DefinitionError("GridSearch needs at least one hyperparameter with a list of values.")
        # The number of cells first, from the distributions' and ranges' sizes, so that a grid too large
        # for the service is refused before its values are listed (a list of a million values: megabytes).
        sizes = {str(hp): _grid_size(values) for hp, values in self.grid.items()}
        for hp, size in sizes.items():
            if size is not None and size > MAX_GRID_CELLS:
                raise DefinitionError(grid_too_large(hp, size))
        if all(size is not None for size in sizes.values()):
            check_grid_cells({hp: size for hp, size in sizes.items() if size is not None})
        axes = {}
        for hp, values in self.grid.items():
            wire = values
            if isinstance(values, Distribution):
                wire = values.to_wire()
            elif isinstance(values, range) and values.step > 0 and len(values) > 0 and _exact_range(values):
                wire = Integer(values[0], values[-1], step=values.step).to_wire()  # the same values, in order
            elif isinstance(values, (tuple, range)):
                wire = list(values)
            axes[str(hp)] = grid_axis(wire, str(hp))
        check_grid_cells({hp: axis.size for hp, axis in axes.items()})
        return axes

    def _scheduler_params(self) -> Any:
        # Compact: a list stays a list, an Integer or a stepped Uniform is its distribution (counted, not listed).
        return {hp: axis.wire for hp, axis in self._grid_axes().items()}

    def _search_difference(self, here: Any, there: Any) -> tuple[str, Any, Any] | None:
        # A hyperparameter listed by one side (an earlier client sent every grid as lists) and given as its
        # distribution by the other is the same when it holds the same values in the same order.
        if isinstance(here, dict) and isinstance(there, dict):
            for hp in [*here, *(k for k in there if k not in here)]:
                mine, theirs = here.get(hp), there.get(hp)
                if isinstance(mine, list) != isinstance(theirs, list) and _same_axis(mine, theirs, str(hp)):
                    continue
                found = _first_difference(mine, theirs, str(hp))
                if found is not None:
                    return found
            return None
        return _first_difference(here, there)

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        if not isinstance(params, dict):
            raise DefinitionError("GridSearch needs an object mapping each hyperparameter to its list of values.")
        # A distribution stored by the service is read back as one (schedy.random.Integer, say).
        grid = {hp: parse_distribution(v, str(hp)) if isinstance(v, dict) else v for hp, v in params.items()}
        return cls(name, grid, status=status)


class TPESearch(Experiment):
    """Model-based search (TPE): each new job is where good results are likelier than bad ones.

    The service models the finished jobs with two Parzen estimators (good
    and the rest; jobs still running count as bad, so parallel workers
    spread out) and hands out the candidate with the best ratio; the first
    ``n_startup_jobs`` jobs are quasi-random. Jobs added by hand and DONE
    jobs imported (``schedy import``) count as history. The rules are in
    ``docs/search.md``.

    Args:
        name: the experiment's name.
        distributions: hyperparameter name → a :mod:`schedy.random`
            distribution (conditional branches allowed).
        objective: :data:`schedy.MINIMIZE` (``"min"``) or :data:`schedy.MAXIMIZE` (``"max"``).
        result_name: the result that ranks jobs.
        status: :attr:`~Experiment.RUNNING` or :attr:`~Experiment.DONE`.
        **options: ``n_startup_jobs`` (10), ``n_ei_candidates`` (24),
            ``prior_weight`` (1.0), ``max_observations`` (1000: the most
            finished jobs one decision models, the best then the most
            recent), ``startup`` (``"sobol"``, ``"halton"`` or ``"random"``).

    Example:
        >>> from schedy.random import LogUniform
        >>> exp = TPESearch("MNIST", {"lr": LogUniform(1e-5, 1e-1)}, "max", "accuracy", n_startup_jobs=20)
        >>> exp._to_wire()["scheduler"]["TPESearch"]["nStartupJobs"]
        20

    """

    scheduler_name = "TPESearch"
    _search_attributes = ("params",)

    def __init__(
        self,
        name: str,
        distributions: Mapping[str, Distribution],
        objective: str,
        result_name: str,
        status: str = Experiment.RUNNING,
        *,
        early_stopping: StoppingPolicy | None = None,
        max_jobs: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        max_run_time: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            name,
            status,
            early_stopping=early_stopping,
            max_jobs=max_jobs,
            seed=seed,
            max_retries=max_retries,
            max_run_time=max_run_time,
        )
        known = TPEParams.option_names()
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise DefinitionError(
                f"TPESearch has no option {', '.join(map(repr, unknown))}; its options are {', '.join(known)}."
            )
        space = _mapping(distributions, "TPESearch", "distributions", "{'lr': LogUniform(1e-5, 1e-1)}")
        self.params = TPEParams(space, objective, result_name, **options)

    @property
    def distributions(self) -> dict[str, Distribution]:
        """The search space."""
        return self.params.distributions

    def _search_objective(self) -> tuple[str, str] | None:
        """The search's ``result_name`` and ``objective``."""
        return (self.params.result_name, self.params.objective)

    def _scheduler_params(self) -> Any:
        return self.params.to_wire()

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        p = TPEParams.from_wire(params)
        options = {attr: getattr(p, attr) for attr in TPEParams.option_names()}
        return cls(name, p.distributions, p.objective, p.result_name, status=status, **options)


class PopulationBasedTraining(Experiment):
    """Population Based Training: members train in steps; weak ones copy strong ones.

    Each job is one training interval of one member of the population. The
    service decides, when a worker asks, which member goes on and whether it
    first *exploits* (copies the hyperparameters and results, e.g. the
    checkpoint path, of a better member) and *explores* (perturbs them).
    The rules are in ``docs/pbt.md``.

    Args:
        name: the experiment's name.
        objective: :data:`schedy.pbt.MINIMIZE` or :data:`schedy.pbt.MAXIMIZE`.
        result_name: the result that ranks jobs.
        exploit: the exploit strategy, e.g. :class:`schedy.pbt.Truncate`.
        explore: hyperparameter name → explore strategy
            (:class:`schedy.pbt.Perturb`).
        initial_distributions: hyperparameter name → distribution of the
            initial population (needs ``population_size``).
        population_size: the number of members.
        status: :attr:`~Experiment.RUNNING` or :attr:`~Experiment.DONE`.
        max_generations: a member is finished when it reaches this
            generation; when all are, the experiment becomes DONE.

    Example:
        >>> from schedy import pbt
        >>> from schedy.random import LogUniform
        >>> exp = PopulationBasedTraining(
        ...     "PBT", pbt.MAXIMIZE, "accuracy", pbt.Truncate(0.2), explore={"lr": pbt.Perturb()},
        ...     initial_distributions={"lr": LogUniform(1e-4, 1e-1)}, population_size=10, max_generations=20)
        >>> exp._to_wire()["scheduler"]["PBT"]["numParallel"]
        10

    """

    scheduler_name = "PBT"
    _search_attributes = (
        "objective",
        "result_name",
        "exploit",
        "explore",
        "initial_distributions",
        "population_size",
        "max_generations",
    )

    def __init__(
        self,
        name: str,
        objective: str,
        result_name: str,
        exploit: Truncate,
        explore: Mapping[str, Perturb] | None = None,
        initial_distributions: Mapping[str, Distribution] | None = None,
        population_size: int | None = None,
        status: str = Experiment.RUNNING,
        max_generations: int | None = None,
        *,
        early_stopping: StoppingPolicy | None = None,
        max_jobs: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        max_run_time: float | None = None,
    ) -> None:
        super().__init__(
            name,
            status,
            early_stopping=early_stopping,
            max_jobs=max_jobs,
            seed=seed,
            max_retries=max_retries,
            max_run_time=max_run_time,
        )
        self.objective = objective
        self.result_name = result_name
        self.exploit = exploit
        self.explore = _mapping(explore or {}, "PopulationBasedTraining", "explore", "{'lr': Perturb(0.8, 1.2)}")
        self.initial_distributions = _mapping(
            initial_distributions or {},
            "PopulationBasedTraining",
            "initial_distributions",
            "{'lr': LogUniform(1e-5, 1e-1)}",
        )
        self.population_size = population_size
        self.max_generations = max_generations
        self._params()  # validate now, not at the first request

    def _search_objective(self) -> tuple[str, str] | None:
        """The population's ``result_name`` and ``objective``."""
        return (self.result_name, self.objective)

    def _params(self) -> PBTParams:
        if not isinstance(self.exploit, Truncate):
            raise DefinitionError(f"PBT exploit must be a schedy.pbt.Truncate, got {type(self.exploit).__name__}.")
        for hp, strategy in self.explore.items():
            if not isinstance(strategy, Perturb):
                raise DefinitionError(f"PBT explore of {hp!r} must be a schedy.pbt.Perturb, got {strategy!r}.")
        for hp, dist in self.initial_distributions.items():
            if not isinstance(dist, Distribution):
                raise DefinitionError(f"PBT initial distribution of {hp!r} must be a schedy.random distribution.")
        return PBTParams(
            objective=self.objective,
            result_name=self.result_name,
            exploit=self.exploit,
            explore=self.explore,
            init=self.initial_distributions,
            population_size=self.population_size,
            max_generations=self.max_generations,
        )

    def _scheduler_params(self) -> Any:
        return self._params().to_wire()

    @classmethod
    def _from_params(cls, name: str, status: str, params: Any) -> Experiment:
        p = PBTParams.from_wire(params)
        return cls(
            name,
            p.objective,
            p.result_name,
            p.exploit,
            explore=p.explore,
            initial_distributions=p.init,
            population_size=p.population_size,
            status=status,
            max_generations=p.max_generations,
        )


_BY_SCHEDULER: dict[str, type[Experiment]] = {
    cls.scheduler_name: cls
    for cls in (ManualSearch, RandomSearch, PopulationBasedTraining, GridSearch, TPESearch)
    if cls.scheduler_name
}


def _exact_range(values: range) -> bool:
    """Whether an ``Integer`` gives a range's values (within 2**53; seeds past it stay a list)."""
    return max(abs(values[0]), abs(values[-1])) <= 2**53


def _grid_size(values: Any) -> int | None:
    """How many values a grid's hyperparameter lists, when known without listing them."""
    if isinstance(values, Distribution):
        return values.grid_size()
    if isinstance(values, (list, tuple, range)):
        return len(values)
    return None


def _mapping(value: Any, search: str, what: str, example: str) -> dict[str, Any]:
    """``value`` as a dict, or one sentence saying what ``search`` expected (arguments in the wrong order?)."""
    if not isinstance(value, Mapping):
        raise DefinitionError(
            f"{search}'s {what} must be a mapping of hyperparameter names to values, e.g. {example}, "
            f"not {type(value).__name__} {shown(value)} (are the arguments in the order of {search}'s signature?)."
        )
    return dict(value)


def experiment_from_wire(data: Any) -> Experiment:
    """Build the experiment an experiment JSON describes, of the matching subclass.

    A scheduler this client does not know (or whose parameters it cannot
    parse, e.g. a distribution added to the service later) gives a plain
    :class:`Experiment` that keeps the definition as it is.

    Raises:
        schedy.errors.UnhandledResponseError: the JSON is not an experiment.

    """
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("name"), str)
        or data.get("status") not in (Experiment.RUNNING, Experiment.DONE)
        or not isinstance(data.get("scheduler"), dict)
        or len(data["scheduler"]) != 1
    ):
        raise UnhandledResponseError(f"Expected an experiment, got {str(data)[:200]}", None)
    name, status = data["name"], data["status"]
    ((scheduler, params),) = data["scheduler"].items()
    cls = _BY_SCHEDULER.get(scheduler)
    exp: Experiment | None = None
    if cls is not None:
        try:
            exp = cls._from_params(name, status, params)
        except DefinitionError as exc:
            logger.warning(
                "Experiment %r: cannot read its %s parameters (%s); keeping them as they are.", name, scheduler, exc
            )
    if exp is None:
        exp = Experiment(name, status)
        exp._unknown_scheduler = (scheduler, params)
    # Merged: what the parameters held that is a top-level key today (a random search's sampler, inside
    # them on services up to 0.2.0.dev0) is kept unless the answer has the key itself.
    exp.extra = {**exp.extra, **{key: value for key, value in data.items() if key not in _CORE_KEYS}}
    return exp


def _first_difference(here: Any, there: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place (a dotted path) where two JSON values differ, and the two values there."""
    if isinstance(here, dict) and isinstance(there, dict):
        for key in [*here, *(k for k in there if k not in here)]:
            found = _first_difference(here.get(key), there.get(key), f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    return None if here == there else (path or "its top", here, there)


def _same_axis(here: Any, there: Any, hyperparameter: str) -> bool:
    """Whether two wire forms of a grid's hyperparameter (a list, a distribution) hold the same values in order."""
    try:
        mine, theirs = grid_axis(here, hyperparameter, limit=False), grid_axis(there, hyperparameter, limit=False)
    except (DefinitionError, ValueError, TypeError):
        return False
    if mine.size != theirs.size:
        return False
    listed, other = (mine, theirs) if isinstance(here, list) else (theirs, mine)
    return all(other.index(value) == position for position, value in enumerate(listed))


def _kind(exp: Experiment) -> str:
    return type(exp).__name__ if exp._unknown_scheduler is None else f"{exp._unknown_scheduler[0]} search"
