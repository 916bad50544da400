"""Jobs: add, read, conditional update, delete, list, heartbeats (the claim is in :mod:`.claims`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from anyio import to_thread
from sqlalchemy import Connection

from schedy.errors import DefinitionError
from schedy.server.errors import Invalid, NotFound, PreconditionFailed
from schedy.server.schedulers.registry import load_scheduler
from schedy.server.service.leases import end_late, not_running
from schedy.server.store import Store, jobs_async
from schedy.server.store import attempts as store_attempts
from schedy.server.store import experiments as store_experiments
from schedy.server.store import history as store_history
from schedy.server.store import jobs as store_jobs
from schedy.server.store import leases as store_leases
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.ids import new_job_id
from schedy.server.store.jobs import JobRecord
from schedy.server.wire import JobInput, dumps, parse_etags

__all__ = ["Jobs", "new_job_id"]


def _fast_versions(job: JobInput, if_match: str | None, if_none_match: bool) -> list[tuple[int, int] | None]:
    """The versions a one-statement update may replace: the ETags sent, or ``[None]`` (any) without If-Match.

    Empty when the update needs :meth:`Jobs._put_checked`: create-only (If-None-Match), ``If-Match: *``,
    or a job set back to QUEUED (a new attempt). The one-statement update of a RUNNING job replaces it
    only if it was RUNNING already; one it would start goes to :meth:`Jobs._put_checked` too, for its lease.
    """
    if if_none_match or job.status == store_jobs.QUEUED:
        return []
    if if_match is None:
        return [None]  # no precondition: replace the job if it exists (else _put_checked creates it)
    return list(parse_etags(if_match))


class Jobs:
    """Use cases on jobs, each one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

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

    @staticmethod
    def _lease(experiment: ExperimentRecord, job: JobInput) -> float | None:
        """The lease of a job a PUT or POST makes RUNNING: ``maxRunTime``, as a claim without heartbeats gets.

        Nothing sends heartbeats for such a job (no claim promised an interval), so a lease from
        heartbeats cannot be; without ``maxRunTime`` it holds no lease, as such a claim does not.
        """
        return store_leases.max_run_time(experiment.options) if job.status == store_jobs.RUNNING else None

    @staticmethod
    def _lineage_of_a_new_job(conn: Connection, experiment: ExperimentRecord) -> dict[str, Any]:
        """A job added by hand starts a member (``h0``, ``h1``…, generation 1) where the search asks for it (PBT)."""
        if not load_scheduler(experiment.scheduler, experiment.params).hand_jobs_start_members:
            return {}
        return {"member": store_jobs.next_hand_member(conn, experiment.id), "generation": 1}

    def add(self, user_id: int, experiment: str, job: JobInput) -> JobRecord:
        """Add a job with a fresh id (QUEUED unless the body says otherwise)."""
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            self._check_fits(exp, job.hyperparameters)
            row = store_jobs.insert(
                conn,
                exp.id,
                new_job_id(),
                job.status,
                dumps(job.hyperparameters),
                dumps(job.results),
                max_run_time=self._lease(exp, job),
                **self._lineage_of_a_new_job(conn, exp),
            )
            assert row is not None  # noqa: S101 - a plain insert returns its row
            return row

    def get(self, user_id: int, experiment: str, job_id: str) -> JobRecord:
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
    ) -> tuple[JobRecord, bool]:
        """Create or replace a job under HTTP preconditions; return it and whether it was created.

        ``if_match`` is the If-Match header (ETags or ``*``): update only that
        version. ``if_none_match`` (If-None-Match: ``*``): create only.

        Raises:
            PreconditionFailed: the precondition did not hold (changed, gone or present).

        """
        hps, results = dumps(job.hyperparameters), dumps(job.results)
        expected_versions = _fast_versions(job, if_match, if_none_match)
        if expected_versions:  # back to QUEUED: a new attempt, see _put_checked
            # A worker's update: one statement, a transaction by itself, when
            # its ETag still holds (or it sent none and the job exists);
            # otherwise the checks below say what is wrong, or create the job.
            with self._store.autocommit() as conn:
                for expected in expected_versions:
                    row = store_jobs.replace_named(
                        conn, user_id, experiment, job_id, job.status, hps, results, expected
                    )
                    if row is not None:
                        return row, False
        return self._put_checked(user_id, experiment, job_id, job, if_match=if_match, if_none_match=if_none_match)

    async def put_async(
        self,
        user_id: int,
        experiment: str,
        job_id: str,
        job: JobInput,
        *,
        if_match: str | None,
        if_none_match: bool,
    ) -> tuple[JobRecord, bool]:
        """:meth:`put` on the event loop (PostgreSQL: :attr:`schedy.server.store.Store.aio`).

        A worker's update (``If-Match`` with the ETag it holds) is one statement
        awaited on the loop; anything else, or an ETag that no longer holds,
        goes through :meth:`put`'s checks in the thread pool.
        """
        expected_versions = _fast_versions(job, if_match, if_none_match)
        aio = self._store.aio
        if expected_versions and aio is not None:
            hps, results = dumps(job.hyperparameters), dumps(job.results)
            async with aio.connection() as conn:
                for expected in expected_versions:
                    row = await jobs_async.replace_named(
                        conn, user_id, experiment, job_id, job.status, hps, results, expected
                    )
                    if row is not None:
                        return row, False
        checked = partial(
            self._put_checked, user_id, experiment, job_id, job, if_match=if_match, if_none_match=if_none_match
        )
        return await to_thread.run_sync(checked)

    def _put_checked(
        self,
        user_id: int,
        experiment: str,
        job_id: str,
        job: JobInput,
        *,
        if_match: str | None,
        if_none_match: bool,
    ) -> tuple[JobRecord, bool]:
        """:meth:`put` in one transaction, with every check (after the one-statement update matched nothing).

        A job that had started (RUNNING or finished) and is set back to QUEUED starts its next attempt:
        the one it ends is kept in its attempts (as the dashboard's re-queue does), and its reports from
        then on are a new run for the early-stopping policy.
        """
        hps, results = dumps(job.hyperparameters), dumps(job.results)
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            lease = self._lease(exp, job)
            if if_none_match:
                self._check_fits(exp, job.hyperparameters)
                lineage = self._lineage_of_a_new_job(conn, exp)
                row = store_jobs.insert(
                    conn, exp.id, job_id, job.status, hps, results, max_run_time=lease, if_absent=True, **lineage
                )
                if row is None:
                    raise PreconditionFailed(f"Job '{job_id}' already exists in experiment '{experiment}'.")
                return row, True
            ending = None
            if job.status == store_jobs.QUEUED:
                current = store_jobs.get_locked(conn, exp.id, job_id)
                if current is not None and current.status != store_jobs.QUEUED:
                    ending = current, store_attempts.error_of(conn, current.pk)
            if if_match is not None:
                row = self._replace_if_match(conn, exp, job_id, job, if_match)
            else:
                row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results, max_run_time=lease)
            if row is not None:
                if ending is not None:
                    store_attempts.record(conn, *ending)
                return row, False
            self._check_fits(exp, job.hyperparameters)
            lineage = self._lineage_of_a_new_job(conn, exp)
            row = store_jobs.insert(
                conn, exp.id, job_id, job.status, hps, results, max_run_time=lease, if_absent=True, **lineage
            )
            if row is None:  # created concurrently, between our update and insert
                row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results, max_run_time=lease)
            assert row is not None  # noqa: S101 - present after the insert or the update
            return row, row.version == 1

    @staticmethod
    def _replace_if_match(
        conn: Connection, exp: ExperimentRecord, job_id: str, job: JobInput, if_match: str
    ) -> JobRecord:
        hps, results = dumps(job.hyperparameters), dumps(job.results)
        lease = Jobs._lease(exp, job)
        if if_match.strip() == "*":
            row = store_jobs.replace(conn, exp.id, job_id, job.status, hps, results, max_run_time=lease)
            if row is None:
                raise PreconditionFailed(f"Job '{job_id}' does not exist in experiment '{exp.name}'.")
            return row

        etags = parse_etags(if_match)
        for expected in etags:
            row = store_jobs.replace(
                conn, exp.id, job_id, job.status, hps, results, expected=expected, max_run_time=lease
            )
            if row is not None:
                return row
        current = store_jobs.get(conn, exp.id, job_id)
        if current is None:
            # "was deleted since" is what clients (ours, src/schedy/_jobs.py) recognise.
            raise PreconditionFailed(
                f"Job '{job_id}' was deleted since you read it, or never existed in experiment '{exp.name}'."
            )
        row = end_late(conn, exp.id, current, etags, job.status, hps, results)  # a result after the lease lapsed
        if row is not None:
            return row
        now = current.status + (", its lease lapsed" if current.end_reason == "lease-expired" else "")
        raise PreconditionFailed(
            f"Job '{job_id}' was changed since you read it (it is now {now}); read it again before updating."
        )

    def delete(self, user_id: int, experiment: str, job_id: str, *, if_match: str | None = None) -> None:
        """Delete a job; with ``If-Match``, only if it exists (``*``) or is still the version an ETag names.

        Raises:
            PreconditionFailed: ``If-Match`` was given and the job is gone, or changed since that ETag.

        """
        wanted = None if if_match is None else if_match.strip()
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            if wanted is None or wanted == "*":
                deleted = store_jobs.delete_one(conn, exp.id, job_id)
            else:
                deleted = any(
                    store_jobs.delete_one(conn, exp.id, job_id, expected=expected) for expected in parse_etags(wanted)
                )
            if deleted:  # cached histories must forget it
                store_history.bump_epoch(conn, exp.id)
        if deleted or wanted is None:
            return
        if wanted == "*":
            raise PreconditionFailed(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
        raise PreconditionFailed(
            f"Job '{job_id}' was changed or deleted since you read it; read it again before deleting it."
        )

    def page(self, user_id: int, experiment: str, after: int | None, limit: int) -> tuple[list[JobRecord], int | None]:
        """One page of jobs, oldest first, and the key to continue after, if any."""
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            rows = store_jobs.page(conn, exp.id, after, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].pk
        return rows, None

    def heartbeat(self, user_id: int, experiment: str, job_id: str) -> JobRecord:
        """Extend the lease of a RUNNING job.

        Raises:
            NotFound: no such job.  PreconditionFailed: the job is no longer RUNNING.

        """
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, experiment)
            row = store_jobs.heartbeat(conn, exp.id, job_id)
            if row is None:
                record = store_jobs.get(conn, exp.id, job_id)
                status = None if record is None else record.status
                raise not_running(status, experiment, job_id, "stop working on it")
            return row

    def experiment_done(self, user_id: int, experiment: str) -> bool:
        """Whether the experiment is DONE, so that ``nextjob`` will hand out nothing.

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            return bool(self._experiment(conn, user_id, experiment).status == "DONE")
