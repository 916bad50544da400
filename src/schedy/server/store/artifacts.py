"""Artifacts: the rows that make a job's stored files visible.

A row points at a blob (:mod:`schedy.server.service.artifacts` writes and
reads the bytes). An upload inserts its row only once the blob is complete,
so no reader ever sees half a file. Replacing or deleting an artifact, or
deleting its job or experiment (``job_pk`` becomes NULL by the foreign key),
*detaches* the row; :func:`detached` and :func:`forget` let every service
process delete detached rows' blobs, then the rows.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import BigInteger, Connection, delete, func, insert, literal, select, update

from schedy.server.store.engine import db_now
from schedy.server.store.tables import artifacts, experiments, jobs, users

__all__ = [
    "ArtifactRow",
    "attach",
    "attached",
    "copy",
    "detach",
    "detached",
    "experiment_page",
    "forget",
    "get",
    "job_pk",
    "listing",
    "lock_job",
    "lock_owner",
    "newest",
    "referenced",
    "used",
]


class ArtifactRow(NamedTuple):
    """One visible artifact."""

    name: str
    size: int
    sha256: str
    blob: str
    created_at: float


_COLUMNS = (artifacts.c.name, artifacts.c.size, artifacts.c.sha256, artifacts.c.blob, artifacts.c.created_at)


def job_pk(conn: Connection, owner_id: int, experiment: str, job_id: str) -> tuple[int | None, int | None]:
    """``(experiment id, job pk)`` of the owner's job; ``None`` for what does not exist."""
    exp = conn.execute(
        select(experiments.c.id).where(experiments.c.owner_id == owner_id, experiments.c.name == experiment)
    ).scalar_one_or_none()
    if exp is None:
        return None, None
    pk = conn.execute(
        select(jobs.c.pk).where(jobs.c.experiment_id == exp, jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return exp, pk


def lock_owner(conn: Connection, user_id: int) -> None:
    """Hold the user's row until the transaction ends: the attaches of one user take turns.

    Each checks the quota against what the user already keeps; on PostgreSQL two attaches of one user
    would otherwise both read the total before either inserts, and together pass the quota. Taken
    before the job's row (:func:`lock_job`), in the order a user's deletion takes them. SQLite's write
    transactions already take turns.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())


def lock_job(conn: Connection, job: int) -> bool:
    """Hold the job's row until the transaction ends (``False`` if it is gone): its attaches take turns.

    On PostgreSQL two uploads of one name would otherwise both detach nothing and both insert, and one
    fail on the (job, name) key; SQLite's write transactions already take turns.
    """
    query = select(jobs.c.pk).where(jobs.c.pk == job)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first() is not None


def listing(conn: Connection, job: int) -> list[ArtifactRow]:
    """The job's artifacts, by name."""
    rows = conn.execute(select(*_COLUMNS).where(artifacts.c.job_pk == job).order_by(artifacts.c.name))
    return [ArtifactRow._make(row) for row in rows]


def experiment_page(conn: Connection, experiment: int, after: int, limit: int) -> list[tuple[int, str, ArtifactRow]]:
    """Up to ``limit`` visible artifacts of the experiment's jobs past key ``after``: ``(key, job id, row)``.

    In the order they were stored (a replaced artifact moves to the end), so a page token stays valid.
    """
    query = (
        select(artifacts.c.pk, jobs.c.job_id, *_COLUMNS)
        .join(jobs, jobs.c.pk == artifacts.c.job_pk)
        .where(jobs.c.experiment_id == experiment, artifacts.c.pk > after)
        .order_by(artifacts.c.pk)
        .limit(limit)
    )
    return [(int(pk), str(job_id), ArtifactRow._make(rest)) for pk, job_id, *rest in conn.execute(query)]


def get(conn: Connection, job: int, name: str) -> ArtifactRow | None:
    """The job's artifact ``name``, if any."""
    row = conn.execute(select(*_COLUMNS).where(artifacts.c.job_pk == job, artifacts.c.name == name)).one_or_none()
    return None if row is None else ArtifactRow._make(row)


def attached(conn: Connection, blob: str) -> bool:
    """Whether an attached (visible) row still points at ``blob``."""
    query = select(artifacts.c.pk).where(artifacts.c.blob == blob, artifacts.c.job_pk.is_not(None)).limit(1)
    return conn.execute(query).first() is not None


def newest(conn: Connection) -> str | None:
    """The blob of the artifact stored last that is still attached (visible), ``None`` if none is."""
    query = select(artifacts.c.blob).where(artifacts.c.job_pk.is_not(None)).order_by(artifacts.c.pk.desc()).limit(1)
    blob = conn.execute(query).scalar_one_or_none()
    return None if blob is None else str(blob)


def used(conn: Connection, user_id: int) -> int:
    """Bytes of the user's visible artifacts (what counts against the quota)."""
    total = conn.execute(
        select(func.coalesce(func.sum(artifacts.c.size), 0)).where(
            artifacts.c.user_id == user_id, artifacts.c.job_pk.is_not(None)
        )
    ).scalar_one()
    return int(total)


def attach(conn: Connection, job: int, user_id: int, name: str, size: int, sha256: str, blob: str) -> ArtifactRow:
    """Make a complete blob the job's artifact ``name``, replacing (detaching) any earlier one."""
    detach(conn, job, name)
    row = conn.execute(
        insert(artifacts)
        .values(job_pk=job, user_id=user_id, name=name, size=size, sha256=sha256, blob=blob, created_at=db_now())
        .returning(*_COLUMNS)
    ).one()
    return ArtifactRow._make(row)


def detach(conn: Connection, job: int, name: str) -> bool:
    """Hide the job's artifact ``name`` (its blob is deleted later); ``False`` if there was none."""
    result = conn.execute(
        update(artifacts).where(artifacts.c.job_pk == job, artifacts.c.name == name).values(job_pk=None)
    )
    return bool(result.rowcount)


def detached(conn: Connection, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` detached rows: ``(pk, blob)``."""
    query = select(artifacts.c.pk, artifacts.c.blob).where(artifacts.c.job_pk.is_(None))
    rows = conn.execute(query.order_by(artifacts.c.pk).limit(limit))
    return [(int(pk), str(blob)) for pk, blob in rows]


def forget(conn: Connection, pks: list[int]) -> None:
    """Delete detached rows (once their blobs are gone, unless another row still refers to them)."""
    if pks:
        conn.execute(delete(artifacts).where(artifacts.c.pk.in_(pks), artifacts.c.job_pk.is_(None)))


def referenced(conn: Connection, blobs: list[str], besides: list[int] | None = None) -> set[str]:
    """Which of ``blobs`` a row other than those of ``besides`` refers to (a retry shares its previous attempt's)."""
    if not blobs:
        return set()
    query = select(artifacts.c.blob).where(artifacts.c.blob.in_(blobs))
    if besides:
        query = query.where(artifacts.c.pk.not_in(besides))
    return {str(b) for b in conn.execute(query).scalars()}


def copy(conn: Connection, from_job: int, to_job: int) -> int:
    """Give ``to_job`` the artifacts of ``from_job`` (the same blobs, shared); return how many."""
    columns = ("user_id", "name", "size", "sha256", "blob", "created_at")
    query = select(literal(to_job, BigInteger), *(artifacts.c[c] for c in columns)).where(
        artifacts.c.job_pk == from_job
    )
    return int(conn.execute(insert(artifacts).from_select(["job_pk", *columns], query)).rowcount or 0)
