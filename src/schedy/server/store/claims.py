"""How a claim's steps run on each database, behind one interface.

The plan of a claim (:mod:`schedy.server.service.claims`) is the same on
every database: find the experiment, take its oldest queued job, else ask the
scheduler and insert what it decided. Only the execution differs:

* **SQLite** has one writer at a time: the steps run in one write
  transaction (``BEGIN IMMEDIATE``), which costs one commit, and separate
  statements are cheap (no network).
* **PostgreSQL** pays a round trip per statement and two for a BEGIN and a
  COMMIT: each step is one statement, atomic alone, on a connection in
  autocommit mode. The experiment lookup takes the queue head in the same
  statement (``FOR UPDATE SKIP LOCKED``: two claims never take one job).
  Nothing between the steps needs a transaction: under READ COMMITTED one
  would see no more (a change of status is seen by the next claim either
  way; a job queued just after the first step is the next claim's). Except
  a budget (``maxJobs``): the job taken from it and the job inserted commit
  together (``claim_step(atomic=True)``), or a reader in between would see
  the budget spent by a job that does not exist, and a claim in between
  would end the search before that job starts. On the event loop that
  is one statement (the unit taken and the job inserted in data-modifying
  CTEs), elsewhere a transaction.

:meth:`schedy.server.store.Store.claim_step` opens a :class:`ClaimStep` of
the right kind. On PostgreSQL the HTTP layer runs the same steps on the
event loop (:class:`AsyncClaimStep`, on an asyncpg connection of
:mod:`schedy.server.store.aio`), without a thread.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store import jobs_async, leases
from schedy.server.store.aio import AsyncConnection
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.ids import new_job_id
from schedy.server.store.jobs import JobRecord

__all__ = ["AsyncClaimStep", "ClaimStep", "NewRow", "Taken", "insert_claimed", "running_params"]

#: A generated id collides with probability ~n²/2⁶⁵; a collision only costs another draw.
ID_TRIES = 3


class Taken(NamedTuple):
    """The first step's outcome: the experiment, the queued job taken (if any), the lease's maximum run time."""

    experiment: ExperimentRecord
    job: JobRecord | None
    max_run_time: float | None


class NewRow(NamedTuple):
    """A new job to insert RUNNING for the claiming worker (what a scheduler decided)."""

    hyperparameters: str  # JSON text
    results: str  # JSON text
    member: str | None = None
    generation: int | None = None
    parent: str | None = None
    attempt: int = 1


def _max_run_time(experiment: ExperimentRecord, heartbeat: float | None) -> float | None:
    """A worker that sends no heartbeats gets a lease of the experiment's ``maxRunTime``, if set."""
    return None if heartbeat is not None else leases.max_run_time(experiment.options)


class ClaimStep:
    """The statements of one claim on one connection (a transaction on SQLite, autocommit on PostgreSQL).

    ``transaction``: on PostgreSQL, the connection is in a transaction (the
    steps must commit together), where a failed insert cannot be tried again.
    """

    def __init__(self, conn: Connection, *, postgresql: bool, transaction: bool = False) -> None:
        self.conn = conn
        self._postgresql = postgresql
        self._retry_ids = not (postgresql and transaction)
        #: Whether the steps commit together (SQLite's transaction, or ``transaction``).
        self.together = transaction or not postgresql

    def take_queued(self, owner_id: int, name: str, worker: str | None, heartbeat: float | None) -> Taken | None:
        """The experiment, and its oldest queued job made RUNNING unless it is DONE; ``None`` if no such experiment."""
        conn = self.conn
        if self._postgresql and heartbeat is not None:
            claimed = store_jobs.claim_by_name(conn, owner_id, name, worker, heartbeat)
            if claimed is None:
                return None
            return Taken(claimed[0], claimed[1], None)
        if self._postgresql:
            # The lease comes from the experiment's maxRunTime: read it (and probe the queue) first.
            found = store_jobs.experiment_and_queue(conn, owner_id, name)
            if found is None:
                return None
            experiment, queued = found
        else:
            record = store_experiments.get_record(conn, owner_id, name)
            if record is None:
                return None
            experiment, queued = record, True  # a probe would cost what the claim costs
        max_run_time = _max_run_time(experiment, heartbeat)
        if experiment.status == store_jobs.DONE or not queued:
            return Taken(experiment, None, max_run_time)
        job = store_jobs.claim_queued(conn, experiment.id, worker, heartbeat, max_run_time)
        return Taken(experiment, job, max_run_time)

    def insert_new(
        self, experiment_id: int, new: NewRow, worker: str | None, heartbeat: float | None, max_run_time: float | None
    ) -> JobRecord:
        """Insert ``new`` RUNNING for the claiming worker under a fresh random id."""
        return insert_claimed(self.conn, experiment_id, new, worker, heartbeat, max_run_time, retry_ids=self._retry_ids)


class AsyncClaimStep:
    """:class:`ClaimStep` on PostgreSQL, on the event loop: the same statements, each atomic alone."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def take_queued(self, owner_id: int, name: str, worker: str | None, heartbeat: float | None) -> Taken | None:
        """:meth:`ClaimStep.take_queued`."""
        conn = self.conn
        if heartbeat is not None:
            claimed = await jobs_async.claim_by_name(conn, owner_id, name, worker, heartbeat)
            return None if claimed is None else Taken(claimed[0], claimed[1], None)
        found = await jobs_async.experiment_and_queue(conn, owner_id, name)
        if found is None:
            return None
        experiment, queued = found
        max_run_time = _max_run_time(experiment, heartbeat)
        if experiment.status == store_jobs.DONE or not queued:
            return Taken(experiment, None, max_run_time)
        job = await jobs_async.claim_queued(conn, experiment.id, worker, heartbeat, max_run_time)
        return Taken(experiment, job, max_run_time)

    async def claim_or_create(
        self,
        owner_id: int,
        name: str,
        worker: str | None,
        heartbeat: float,
        decided_from: ExperimentRecord,
        new: NewRow,
        limit: int | None = None,
    ) -> Taken | None:
        """:meth:`take_queued` with a heartbeat, and if no queued job was there, ``new`` inserted, in one statement.

        ``new`` was decided by a scheduler that reads no history from ``decided_from``: it is inserted
        only if the experiment's definition is still that one and it is not DONE, and with a
        ``limit`` (``maxJobs``) only if a unit of the budget is left, taken in the same statement (see
        :func:`schedy.server.store.jobs_async.claim_or_create`). No job in the answer if neither
        happened: decide again from the experiment returned. ``None`` if there is no such experiment.
        """
        for attempt in range(ID_TRIES):
            try:
                found = await jobs_async.claim_or_create(
                    self.conn,
                    owner_id,
                    name,
                    worker,
                    heartbeat,
                    decided_from,
                    new_job_id(),
                    new.hyperparameters,
                    new.results,
                    limit,
                )
            except IntegrityError:  # the id was taken: nothing was written
                if attempt == ID_TRIES - 1:
                    raise
                continue
            return None if found is None else Taken(found[0], found[1], None)
        raise AssertionError("unreachable")  # pragma: no cover

    async def insert_new(
        self,
        experiment_id: int,
        new: NewRow,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
        limit: int | None = None,
    ) -> JobRecord | None:
        """:meth:`ClaimStep.insert_new`: another id is drawn if one is taken.

        With a ``limit`` (the experiment's ``maxJobs``), a unit of the budget is taken in the same
        statement (:func:`schedy.server.store.jobs_async.spend_and_insert`): ``None``, and nothing
        written, if it is spent.
        """
        for attempt in range(ID_TRIES):
            params = running_params(experiment_id, new, worker, heartbeat, max_run_time)
            try:
                if limit is None:
                    return await jobs_async.insert(self.conn, params)
                return await jobs_async.spend_and_insert(self.conn, limit, params)
            except IntegrityError:  # the id was taken: nothing was written
                if attempt == ID_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def running_params(
    experiment_id: int, new: NewRow, worker: str | None, heartbeat: float | None, max_run_time: float | None
) -> dict[str, Any]:
    """The insert's parameters (:func:`schedy.server.store.jobs.insert_params`) of ``new``, RUNNING for the worker.

    The job gets a fresh id (:func:`schedy.server.store.ids.new_job_id`) at each call.
    """
    return store_jobs.insert_params(
        experiment_id,
        new_job_id(),
        store_jobs.RUNNING,
        new.hyperparameters,
        new.results,
        worker=worker,
        heartbeat=heartbeat,
        max_run_time=max_run_time,
        member=new.member,
        generation=new.generation,
        parent=new.parent,
        attempt=new.attempt,
        by_search=True,
    )


def insert_claimed(
    conn: Connection,
    experiment_id: int,
    new: NewRow,
    worker: str | None,
    heartbeat: float | None,
    max_run_time: float | None,
    *,
    retry_ids: bool,
) -> JobRecord:
    """Insert a scheduler's new job RUNNING for the claiming worker.

    ``retry_ids``: draw another id if one is taken (not inside a PostgreSQL
    transaction, which the failed insert aborted: the caller retries the
    transaction; it happens about once in 2⁶⁴ draws).
    """
    for attempt in range(ID_TRIES):
        try:
            row = store_jobs.insert_with(conn, running_params(experiment_id, new, worker, heartbeat, max_run_time))
        except IntegrityError:
            if attempt == ID_TRIES - 1 or not retry_ids:
                raise
            continue
        assert row is not None  # noqa: S101 - a plain insert returns its row
        return row
    raise AssertionError("unreachable")  # pragma: no cover
