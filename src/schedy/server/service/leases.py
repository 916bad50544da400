"""Ending jobs whose worker went silent, and retrying them if the experiment allows.

Every service process runs :meth:`Leases.sweep` every second or so (see
:func:`schedy.server.api.app.create_app`). A job whose lease lapsed
becomes CRASHED with ``endReason: "lease-expired"`` once it is more than
the grace period overdue; if its experiment
sets ``maxRetries`` and the job has attempts left, a new QUEUED job with the
same hyperparameters, results and lineage and ``attempt + 1`` is added, and
the queue hands it out before asking the scheduler for new work. The retry
starts with the artifacts of the attempt it retries (their bytes shared), so
it can resume from that attempt's last checkpoint, and with the outcomes of
the attempts before it (:mod:`schedy.server.store.attempts`).

The grace is the deployment's, not one process's: every process sweeps the
whole database, so a process with a shorter grace would end the jobs a longer
one means to keep. ``schedy server --lease-grace`` stores it in the database
(:meth:`Leases.configure`, the last process started with it wins), and every
sweep of every process reads it there.

A lapsed job's worker may be alive all the same (a laptop that slept, a
network cut longer than a lease) and finish the job. :func:`end_late` keeps
that result: the job ends DONE as its worker says, and the retry, if nobody
has claimed it yet, is withdrawn in the same transaction. Once a retry is
claimed the late result is refused (412), so no job is ever finished by two
workers.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import Connection

from schedy.server.errors import NotFound, PreconditionFailed
from schedy.server.store import Store, installation, leases
from schedy.server.store import attempts as store_attempts
from schedy.server.store import experiments as store_experiments
from schedy.server.store import history as store_history
from schedy.server.store import jobs as store_jobs
from schedy.server.store import reports as store_reports
from schedy.server.store.ids import new_job_id
from schedy.server.store.rows import AnyRow
from schedy.server.wire import dumps

__all__ = ["Leases", "end_late", "not_running"]

logger = logging.getLogger("schedy.server.leases")


def not_running(status: str | None, experiment: str, job_id: str, refused: str) -> NotFound | PreconditionFailed:
    """The error for a lease-holder's request (a report, a heartbeat) to a job that is not RUNNING.

    404 when there is no such job (``status`` ``None``); else 412 naming
    the job's status, so that a worker learns whether its lease lapsed
    (CRASHED, or QUEUED again for a retry) or the job was ended (DONE,
    PRUNED) by its own code or by someone else.

    Args:
        status: the job's status, ``None`` if it does not exist.
        experiment: the experiment's name.
        job_id: the job's id.
        refused: what is refused, e.g. ``"its reports are refused"``.

    """
    if status is None:
        return NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
    if status == "QUEUED":
        why = "is QUEUED, not RUNNING (not claimed yet, or queued again after its lease lapsed)"
    else:
        why = f"has ended {status}, so it is no longer RUNNING"
    return PreconditionFailed(f"Job '{job_id}' {why}; {refused}.")


def end_late(
    conn: Connection,
    experiment_id: int,
    current: store_jobs.JobRecord,
    etags: list[tuple[int, int]],
    status: str,
    hyperparameters: str,
    results: str,
) -> store_jobs.JobRecord | None:
    """Keep the result of a job the sweep ended while its worker, alive, was finishing it; ``None`` if not one.

    Applies when ``current`` ended CRASHED by the sweep (``lease-expired``) right after the version an ETag
    of the worker names (nothing else changed it since), and the worker ends it DONE: its work ran to the
    end. The job becomes DONE as the worker says; the retry the sweep queued, if any, is withdrawn. A
    late PRUNED or CRASHED is not kept (a worker that learned of the lapse stops, and its retry runs).

    Raises:
        PreconditionFailed: the retry was claimed already; its result is the one the search gets.

    """
    late = (
        status == store_jobs.DONE
        and current.status == store_jobs.CRASHED
        and current.end_reason == leases.LEASE_EXPIRED
        and (current.pk, current.version - 1) in etags
    )
    if not late:
        return None
    retry = leases.retry_of(conn, experiment_id, current.job_id, current.attempt)
    if retry is not None and not leases.withdraw(conn, retry.pk):
        raise PreconditionFailed(
            f"Job '{current.job_id}' was ended after its lease lapsed, and job '{retry.job_id}', its retry, "
            "was claimed by another worker since, so this result is not kept: the retry's will be."
        )
    ended = leases.end_late(conn, current.pk, current.version, status, hyperparameters, results)
    if ended is None:  # changed since it was read: the caller refuses, rolling the withdrawal back with it
        return None
    if retry is not None:
        store_history.bump_epoch(conn, experiment_id)  # cached histories must forget the withdrawn retry
    event = {
        "kind": "late-result",
        "job": current.job_id,
        "attempt": current.attempt,
        "endedAs": status,
        "retryWithdrawn": None if retry is None else retry.job_id,
    }
    store_experiments.add_events(conn, experiment_id, [dumps(event)])
    logger.info(
        "Kept the result of job %s, whose lease had lapsed%s.",
        current.job_id,
        "" if retry is None else f"; withdrew its retry {retry.job_id}",
    )
    return ended


def _retry_results(conn: Connection, row: AnyRow) -> str:
    """The results a retry starts from: its parent's (the checkpoint it continued), never half-written ones.

    A PBT job continues its parent's results (docs/pbt.md, rule 10); a
    generated first-generation member starts empty; any other job (added by
    hand, or sampled by random search) starts again from what it held.
    """
    if row.parent is not None:
        parent = store_jobs.get(conn, row.experiment_id, row.parent)
        if parent is not None:
            return str(parent.results)
    if row.member is not None and row.generation == 1:
        return "{}"
    return str(row.results)


def _policy_metric(options: str) -> str | None:
    """The metric the experiment's early-stopping policy watches (its ``resultName``), if it has a policy."""
    if "earlyStopping" not in options:  # most experiments: no parse
        return None
    stored = json.loads(options).get("earlyStopping")
    params = next(iter(stored.values()), None) if isinstance(stored, dict) else None
    name = params.get("resultName") if isinstance(params, dict) else None
    return name if isinstance(name, str) else None


def _keep_last_reported(conn: Connection, row: AnyRow, options: str) -> None:
    """A stopped job whose worker went silent: its last reported value of the policy's metric as its result.

    What the client does for a job it ends PRUNED itself (docs/early-stopping.md), so the job ranks by
    that value (``best_job``, the dashboard, a TPE search) whoever ended it; a value it holds wins.
    """
    name = _policy_metric(options)
    if name is None:
        return
    results = json.loads(row.results)
    if not isinstance(results, dict) or name in results:
        return
    metrics = store_reports.last_with(conn, row.pk, row.attempt, name)
    if metrics is not None:
        results[name] = metrics[name]
        leases.keep_results(conn, row.pk, dumps(results))


class Leases:
    """Sweeps lapsed leases for one service process, with the grace stored in the database.

    Args:
        store: the database.

    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def configure(self, grace: float | None) -> float:
        """At start: make ``grace`` (``--lease-grace``) every process's grace, or keep the stored one; the grace.

        ``None`` (no ``--lease-grace``) uses the grace stored by the last process started with one (0 if
        none ever was). Either way, one line of the log says the grace that applies when it is not 0 or
        was just set, and that it applies to every service process of the database.
        """
        with self._store.write() as conn:
            stored = installation.lease_grace(conn)
            if grace is not None:
                installation.put(conn, installation.LEASE_GRACE, repr(float(grace)))
        if grace is None:
            if stored:
                logger.info(
                    "The lease grace is %gs, stored in the database by the last service process started with "
                    "--lease-grace; it applies to every process serving this database.",
                    stored,
                )
            return stored
        if grace == stored:
            logger.info(
                "The lease grace is %gs (--lease-grace, unchanged) for every process serving this database.", grace
            )
        else:
            logger.info(
                "The lease grace is now %gs (--lease-grace; it was %gs) for every service process serving this "
                "database, whatever grace they were started with.",
                grace,
                stored,
            )
        return grace

    def sweep(self) -> int:
        """End every job whose lease lapsed more than the stored grace ago; return how many."""
        with self._store.write() as conn:
            lapsed = leases.expire(conn, grace=installation.lease_grace(conn))
            if not lapsed:
                return 0
            options = leases.experiment_options(conn, {row.experiment_id for row in lapsed})
            for row in lapsed:
                if row.status == "PRUNED":
                    _keep_last_reported(conn, row, options.get(row.experiment_id, "{}"))
                retry = None
                if row.attempt <= leases.max_retries(options.get(row.experiment_id, "{}")) and row.status == "CRASHED":
                    retry = new_job_id()
                    retried = store_jobs.insert(
                        conn,
                        row.experiment_id,
                        retry,
                        store_jobs.QUEUED,
                        row.hyperparameters,
                        _retry_results(conn, row),
                        member=row.member,
                        generation=row.generation,
                        parent=row.parent,
                        attempt=row.attempt + 1,
                    )
                    # The retry starts with the attempt's artifacts (its checkpoints, sharing their bytes)
                    # and the outcomes of the attempts before it, this one included.
                    lapsed_job = store_jobs.get(conn, row.experiment_id, row.job_id)
                    if retried is not None and lapsed_job is not None:
                        store_attempts.carry_over(conn, lapsed_job, retried.pk)
                event = {
                    "kind": "lease-expired",
                    "job": row.job_id,
                    "attempt": row.attempt,
                    "endedAs": row.status,
                    "retry": retry,
                }
                store_experiments.add_events(conn, row.experiment_id, [dumps(event)])
        logger.info("Ended %d job(s) whose lease lapsed.", len(lapsed))
        return len(lapsed)
