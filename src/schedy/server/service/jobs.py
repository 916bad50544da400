"""Jobs: add, read, conditional update, delete, list, and the atomic claim."""

from __future__ import annotations

import enum
import json
import random
import secrets
import threading
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from schedy.errors import DefinitionError
from schedy.server.errors import Invalid, NotFound, PreconditionFailed
from schedy.server.schedulers.base import JobView, NewJob, Scheduler, Snapshot
from schedy.server.schedulers.registry import SCHEDULERS, load_scheduler
from schedy.server.store import Store
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.jobs import JobRecord, JobRow
from schedy.server.wire import JobInput, dumps, parse_etags

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EMPTY = Snapshot()
_thread_rng = threading.local()
# A generated id collides with probability ~n²/2⁶⁵; a collision only costs a retry.
_CLAIM_TRIES = 3
#: How many experiments :meth:`Jobs.reads_population` remembers (then it starts afresh).
_POPULATIONS_KEPT = 4096


class _Needs(enum.Enum):
    """What :meth:`Jobs._claim_in_steps` answers when the claim must be made in one transaction."""

    TRANSACTION = enum.auto()


_IN_A_TRANSACTION = _Needs.TRANSACTION


def _simple_schedulers() -> tuple[str, ...]:
    return tuple(name for name, cls in SCHEDULERS.items() if not cls.needs_population)


#: Schedulers whose claims need no transaction (they look at no other job).
_SIMPLE = _simple_schedulers()


def new_job_id() -> str:
    """A short, URL-safe, random job id (64 random bits, 11 characters)."""
    n = secrets.randbits(64)
    out = []
    while n:
        n, digit = divmod(n, 62)
        out.append(_ALPHABET[digit])
    return "".join(out).rjust(11, "0")


def _fresh_rng() -> random.Random:
    rng = getattr(_thread_rng, "rng", None)
    if rng is None:
        rng = _thread_rng.rng = random.Random()  # noqa: S311 - search sampling, not secrets
    return rng


def _view(row: JobRow) -> JobView:
    return JobView(
        id=row.job_id,
        status=row.status,
        hyperparameters=json.loads(row.hyperparameters),
        results=json.loads(row.results),
        created_at=row.created_at,
        finished_at=row.finished_at,
        member=row.member,
        generation=row.generation,
        parent=row.parent,
        attempt=row.attempt,
    )


class Jobs:
    """Use cases on jobs, each one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # (owner, experiment) → whether its last claim read the whole population.
        self._populations: dict[tuple[int, str], bool] = {}

    def reads_population(self, user_id: int, experiment: str) -> bool:
        """Whether claims of this experiment read all its jobs (PBT), as far as this process has seen.

        Such a claim may take a while on a large population: callers that
        would run a claim on the event loop run it in a thread instead.
        """
        return self._populations.get((user_id, experiment), False)

    def _seen(self, user_id: int, experiment: str, scheduler: Scheduler) -> None:
        if len(self._populations) >= _POPULATIONS_KEPT:
            self._populations.clear()
        self._populations[(user_id, experiment)] = scheduler.needs_population

    @staticmethod
    def _experiment(conn: Connection, user_id: int, name: str, *, lock: bool = False) -> ExperimentRecord:
        row = store_experiments.get_record(conn, user_id, name, lock=lock)
        if row is None:
            raise NotFound(f"Experiment '{name}' does not exist.")
        return row

    @staticmethod
    def _check_fits(experiment: ExperimentRecord, hyperparameters: dict[str, Any]) -> None:
        try:
            load_scheduler(experiment.scheduler, experiment.params).check_new_job(hyperparameters)
        except DefinitionError as exc:
            raise Invalid(str(exc)) from None

    def add(self, user_id: int, experiment: str, job: JobInput) -> JobRow:
        """Add a job with a fresh id (QUEUED unless the body says otherwise)."""
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            self._check_fits(exp, job.hyperparameters)
            row = store_jobs.insert(
                conn, exp.id, new_job_id(), job.status, dumps(job.hyperparameters), dumps(job.results)
            )
            assert row is not None  # noqa: S101 - a plain insert returns its row
            return row

    def get(self, user_id: int, experiment: str, job_id: str) -> JobRow:
        """The job.

        Raises:
            NotFound: no such experiment or job.

        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            row = store_jobs.get(conn, exp.id, job_id)
        if row is None:
            raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
        return row

    def put(
        self,
        user_id: int,
        experiment: str,
        job_id: str,
        job: JobInput,
        *,
        if_match: str | None,
        if_none_match: bool,
    ) -> tuple[JobRow, bool]:
        """Create or replace a job under HTTP preconditions; return it and whether it was created.

        ``if_match`` is the If-Match header (ETags or ``*``): update only that
        version. ``if_none_match`` (If-None-Match: ``*``): create only.

        Raises:
            PreconditionFailed: the precondition did not hold (changed, gone or present).

        """
        hps, results = dumps(job.hyperparameters), dumps(job.results)
        etags = parse_etags(if_match) if if_match is not None and not if_none_match else []
        if etags:
            # A worker's update: one statement, a transaction by itself, when
            # its ETag still holds; otherwise the checks below say what is wrong.
            with self._store.autocommit() as conn:
                for expected in etags:
                    row = store_jobs.replace_named(
                        conn, user_id, experiment, job_id, job.status, hps, results, expected
                    )
                    if row is not None:
                        return row, False
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            if if_none_match:
                self._check_fits(exp, job.hyperparameters)
                row = store_jobs.insert(conn, exp.id, job_id, job.status, hps, results, if_absent=True)
                if row is None:
                    raise PreconditionFailed(f"Job '{job_id}' already exists in experiment '{experiment}'.")
                return row, True
            if if_match is not None:
                return self._replace_if_match(conn, exp, job_id, job, if_match), False
            row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results)
            if row is not None:
                return row, False
            self._check_fits(exp, job.hyperparameters)
            row = store_jobs.insert(conn, exp.id, job_id, job.status, hps, results, if_absent=True)
            if row is None:  # created concurrently, between our update and insert
                row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results)
            assert row is not None  # noqa: S101 - present after the insert or the update
            return row, row.version == 1

    @staticmethod
    def _replace_if_match(conn: Connection, exp: ExperimentRecord, job_id: str, job: JobInput, if_match: str) -> JobRow:
        hps, results = dumps(job.hyperparameters), dumps(job.results)
        changed = PreconditionFailed(
            f"Job '{job_id}' was changed or deleted since you read it; read it again before updating."
        )
        if if_match.strip() == "*":
            row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results)
            if row is None:
                raise PreconditionFailed(f"Job '{job_id}' does not exist in experiment '{exp.name}'.")
            return row

        for expected in parse_etags(if_match):
            row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results, expected=expected)
            if row is not None:
                return row
        raise changed

    def delete(self, user_id: int, experiment: str, job_id: str, *, ensure: bool) -> None:
        """Delete a job.

        Raises:
            PreconditionFailed: ``ensure`` and the job did not exist.

        """
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            deleted = store_jobs.delete_one(conn, exp.id, job_id)
        if not deleted and ensure:
            raise PreconditionFailed(f"Job '{job_id}' does not exist in experiment '{experiment}'.")

    def page(self, user_id: int, experiment: str, after: int | None, limit: int) -> tuple[list[JobRecord], int | None]:
        """One page of jobs, oldest first, and the key to continue after, if any."""
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            rows = store_jobs.page(conn, exp.id, after, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].pk
        return rows, None

    def heartbeat(self, user_id: int, experiment: str, job_id: str) -> JobRow:
        """Extend the lease of a RUNNING job.

        Raises:
            NotFound: no such job.  PreconditionFailed: the job is no longer RUNNING.

        """
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            row = store_jobs.heartbeat(conn, exp.id, job_id)
            if row is None:
                if store_jobs.get(conn, exp.id, job_id) is None:
                    raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
                raise PreconditionFailed(f"Job '{job_id}' is no longer RUNNING; stop working on it.")
            return row

    def experiment_done(self, user_id: int, experiment: str) -> bool:
        """Whether the experiment is DONE, so that ``nextjob`` will hand out nothing.

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            return bool(self._experiment(conn, user_id, experiment).status == "DONE")

    def claim(
        self, user_id: int, experiment: str, *, worker: str | None = None, heartbeat: float | None = None
    ) -> JobRow | None:
        """Hand out the next job (API.md "nextjob"), RUNNING; ``None`` if there is none.

        In one transaction: nothing if the experiment is DONE; else the oldest
        queued job; else whatever the scheduler decides. On PostgreSQL, a
        scheduler that looks at no other job (random search, manual) claims in
        steps of one statement each instead (:meth:`_claim_in_steps`).
        """
        if not self._store.is_sqlite:
            found = self._claim_in_steps(user_id, experiment, worker, heartbeat)
            if not isinstance(found, _Needs):
                return found
        for attempt in range(_CLAIM_TRIES):
            try:
                with self._store.write() as conn:
                    return self._claim(conn, user_id, experiment, worker, heartbeat)
            except IntegrityError:
                if attempt == _CLAIM_TRIES - 1:
                    raise
        return None

    def _claim_in_steps(
        self, user_id: int, name: str, worker: str | None, heartbeat: float | None
    ) -> JobRow | _Needs | None:
        """The claim as one or two statements, each a transaction by itself; or :data:`_IN_A_TRANSACTION`.

        Each step is atomic on its own: reading the experiment while taking
        its oldest queued job if it has one (``FOR UPDATE SKIP LOCKED``: two
        workers never take one job); inserting the new RUNNING job when the
        queue is empty. (A worker without heartbeats reads the experiment and
        probes its queue first: its lease depends on the experiment.)
        Nothing between the steps needs a transaction: under READ COMMITTED,
        one holding them would see no more (the experiment row is not
        locked, so a change of status is seen by the next claim either way; a
        job queued just after the first step is the next claim's), and it
        would cost a BEGIN and a COMMIT round trip. Schedulers that need the
        population, and decisions that change the experiment (events, DONE),
        return :data:`_IN_A_TRANSACTION` and are made in one.
        """
        with self._store.autocommit() as conn:
            if heartbeat is not None:
                # The experiment and, when it has one, a queued job: one statement.
                claimed = store_jobs.claim_by_name(conn, user_id, name, worker, heartbeat, _SIMPLE)
                if claimed is None:
                    raise NotFound(f"Experiment '{name}' does not exist.")
                exp, row = claimed
                if row is not None:
                    return row
                queued = False
            else:
                # Without heartbeats the lease comes from the experiment's maxRunTime: read it first.
                found = store_jobs.experiment_and_queue(conn, user_id, name)
                if found is None:
                    raise NotFound(f"Experiment '{name}' does not exist.")
                exp, queued = found
            scheduler = load_scheduler(exp.scheduler, exp.params)
            if scheduler.needs_population:
                return _IN_A_TRANSACTION
            if exp.status == "DONE":
                return None
            max_run_time = json.loads(exp.options).get("maxRunTime") if heartbeat is None else None
            if queued:  # else an empty queue costs no statement
                row = store_jobs.claim_queued(conn, exp.id, worker, heartbeat, max_run_time)
                if row is not None:
                    return row
            decision = scheduler.decide(_EMPTY, _fresh_rng())
            if decision.events or decision.experiment_done:
                return _IN_A_TRANSACTION
            new = decision.job
            if new is None:
                return None
            for attempt in range(_CLAIM_TRIES):
                try:
                    return _insert_claimed(conn, exp.id, new, worker, heartbeat, max_run_time)
                except IntegrityError:  # the random id was taken: draw another
                    if attempt == _CLAIM_TRIES - 1:
                        raise
            return None

    def _claim(
        self, conn: Connection, user_id: int, name: str, worker: str | None, heartbeat: float | None
    ) -> JobRow | None:
        exp = self._experiment(conn, user_id, name)
        scheduler = load_scheduler(exp.scheduler, exp.params)
        self._seen(user_id, name, scheduler)
        if scheduler.needs_population:
            exp = self._experiment(conn, user_id, name, lock=True)
        if exp.status == "DONE":
            return None
        max_run_time = json.loads(exp.options).get("maxRunTime") if heartbeat is None else None
        row = store_jobs.claim_queued(conn, exp.id, worker, heartbeat, max_run_time)
        if row is not None:
            return row
        return self._schedule(conn, exp, scheduler, worker, heartbeat, max_run_time)

    @staticmethod
    def _schedule(
        conn: Connection,
        exp: ExperimentRecord,
        scheduler: Scheduler,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRow | None:
        if scheduler.needs_population:
            snapshot = Snapshot(jobs=tuple(_view(r) for r in store_jobs.all_of(conn, exp.id)), now=store_jobs.now(conn))
            rng = _experiment_rng(conn, exp)
        else:
            snapshot, rng = _EMPTY, _fresh_rng()
        decision = scheduler.decide(snapshot, rng)
        if scheduler.needs_population:
            store_experiments.save_rng_state(conn, exp.id, json.dumps(rng.getstate()))
        store_experiments.add_events(conn, exp.id, [dumps(dict(e)) for e in decision.events])
        if decision.experiment_done:
            store_experiments.set_status(conn, exp.id, "DONE")
        new = decision.job
        if new is None:
            return None
        return _insert_claimed(conn, exp.id, new, worker, heartbeat, max_run_time)


def _insert_claimed(
    conn: Connection,
    experiment_id: int,
    new: NewJob,
    worker: str | None,
    heartbeat: float | None,
    max_run_time: float | None,
) -> JobRow | None:
    """The scheduler's new job, inserted RUNNING for the claiming worker under a fresh id."""
    return store_jobs.insert(
        conn,
        experiment_id,
        new_job_id(),
        "RUNNING",
        dumps(new.hyperparameters),
        dumps(new.results),
        worker=worker,
        heartbeat=heartbeat,
        max_run_time=max_run_time,
        member=new.member,
        generation=new.generation,
        parent=new.parent,
        attempt=new.attempt,
    )


def _experiment_rng(conn: Connection, exp: ExperimentRecord) -> random.Random:
    """The experiment's own RNG stream, restored where the last decision left it."""
    state = store_experiments.rng_state(conn, exp.id)
    if state is None:
        return random.Random(json.loads(exp.options).get("seed"))  # noqa: S311 - search sampling
    version, internal, gauss = json.loads(state)
    rng = random.Random()  # noqa: S311 - search sampling
    rng.setstate((version, tuple(internal), gauss))
    return rng
