"""Leases: RUNNING jobs whose worker stopped sending heartbeats.

A job claimed with a heartbeat interval (or in an experiment with a
maximum run time) carries ``lease_expires_at``. :func:`expire` ends the
jobs whose lease lapsed more than a grace period ago, atomically, so several
service processes may sweep at once and each lapsed job is ended exactly
once.
"""

from __future__ import annotations

import json
from functools import cache
from typing import NamedTuple

from sqlalchemy import Connection, Float, Select, Update, bindparam, case, delete, select, update

from schedy.server.store.engine import db_now
from schedy.server.store.jobs import COLUMNS, QUEUED, JobRecord
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import experiments, job_attempts, jobs

LEASE_EXPIRED = "lease-expired"
#: The end reason of a job stopped by the early-stopping policy.
PRUNED_BY_POLICY = "pruned"


@cache
def _expire_statement() -> Update:
    lapsed = (
        select(jobs.c.pk)
        .where(jobs.c.lease_expires_at < db_now() - bindparam("p_grace", type_=Float), jobs.c.status == "RUNNING")
        .limit(bindparam("p_limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(jobs)
        .where(jobs.c.pk.in_(lapsed.scalar_subquery()))
        .values(
            # A job the early-stopping policy had told to stop ends PRUNED
            # (and is never retried): it stopped, as asked, without saying so.
            status=case((jobs.c.stop_reason.is_(None), "CRASHED"), else_="PRUNED"),
            end_reason=case((jobs.c.stop_reason.is_(None), LEASE_EXPIRED), else_=PRUNED_BY_POLICY),
            finished_at=db_now(),
            updated_at=db_now(),
            version=jobs.c.version + 1,
            lease_expires_at=None,
            heartbeat_interval=None,
        )
        .returning(
            jobs.c.pk,
            jobs.c.experiment_id,
            jobs.c.job_id,
            jobs.c.hyperparameters,
            jobs.c.results,
            jobs.c.member,
            jobs.c.generation,
            jobs.c.parent,
            jobs.c.attempt,
            jobs.c.status,
        )
    )


def expire(conn: Connection, limit: int = 500, grace: float = 0.0) -> list[AnyRow]:
    """Mark up to ``limit`` RUNNING jobs whose lease lapsed over ``grace`` seconds ago CRASHED; return them.

    A job told to stop by the early-stopping policy ends PRUNED instead (its ``status`` in the returned row).
    """
    return list(conn.execute(_expire_statement(), {"p_limit": limit, "p_grace": grace}))


def keep_results(conn: Connection, pk: int, results: str) -> None:
    """Set the results (JSON text) of a job the sweep has just ended, in the same transaction."""
    conn.execute(update(jobs).where(jobs.c.pk == pk).values(results=results))


@cache
def _options_statement() -> Select[tuple[int, str]]:
    return select(experiments.c.id, experiments.c.options).where(
        experiments.c.id.in_(bindparam("p_ids", expanding=True))
    )


def experiment_options(conn: Connection, experiment_ids: set[int]) -> dict[int, str]:
    """The stored options (JSON text) of the given experiments."""
    return {row.id: row.options for row in conn.execute(_options_statement(), {"p_ids": sorted(experiment_ids)})}


def max_retries(options: str) -> int:
    """The ``maxRetries`` option of stored options (JSON text): how often a CRASHED job is retried; 0 if unset."""
    if "maxRetries" not in options:  # most experiments: no parse
        return 0
    value = json.loads(options).get("maxRetries")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def max_run_time(options: str) -> float | None:
    """The ``maxRunTime`` option of stored options (JSON text): the lease of a job run without heartbeats.

    Read as a claim without ``heartbeat`` reads it (:mod:`schedy.server.store.claims`), for the jobs a
    PUT or a POST makes RUNNING; ``None`` (no lease) if unset.
    """
    if "maxRunTime" not in options:  # most experiments: no parse
        return None
    value = json.loads(options).get("maxRunTime")
    return None if value is None else float(value)


class RetryRow(NamedTuple):
    """The job the lease sweep (or a scheduler) added to retry a lapsed one."""

    pk: int
    job_id: str
    status: str


def retry_of(conn: Connection, experiment_id: int, job_id: str, attempt: int) -> RetryRow | None:
    """The job that took over attempt ``attempt`` of job ``job_id`` as its retry, if one did.

    A retry lists the attempts it continues (:func:`schedy.server.store.attempts.carry_over`),
    found through the index ``(job_id, attempt)`` of ``job_attempts``. Locked until the end of the
    transaction on PostgreSQL, so that a claim cannot take it between this read and its withdrawal.
    """
    query = (
        select(jobs.c.pk, jobs.c.job_id, jobs.c.status)
        .join(job_attempts, job_attempts.c.job_pk == jobs.c.pk)
        .where(
            job_attempts.c.job_id == job_id,
            job_attempts.c.attempt == attempt,
            jobs.c.experiment_id == experiment_id,
            jobs.c.job_id != job_id,
        )
        .order_by(jobs.c.pk)
        .limit(1)
        .with_for_update(of=jobs)
    )
    row = conn.execute(query).first()
    return None if row is None else RetryRow(int(row.pk), str(row.job_id), str(row.status))


def withdraw(conn: Connection, retry_pk: int) -> bool:
    """Delete a retry nobody has claimed yet (QUEUED); ``False`` if it was claimed meanwhile."""
    deleted = conn.execute(delete(jobs).where(jobs.c.pk == retry_pk, jobs.c.status == QUEUED))
    return deleted.rowcount == 1


def end_late(
    conn: Connection, pk: int, version: int, status: str, hyperparameters: str, results: str
) -> JobRecord | None:
    """End a job the sweep ended (version ``version``) as its own worker says, now: ``None`` if it changed since.

    Unlike an update of a finished job, the job's end becomes this one: its time, and the end reason
    ``reported``, the worker having finished it.
    """
    row = conn.execute(
        update(jobs)
        .where(jobs.c.pk == pk, jobs.c.version == version, jobs.c.end_reason == LEASE_EXPIRED)
        .values(
            status=status,
            hyperparameters=hyperparameters,
            results=results,
            end_reason="reported",
            finished_at=db_now(),
            updated_at=db_now(),
            version=jobs.c.version + 1,
        )
        .returning(*COLUMNS)
    ).first()
    return None if row is None else JobRecord._make(row)
