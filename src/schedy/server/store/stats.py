"""Read-mostly statements for the dashboard: aggregates and compact job columns.

Every function runs inside the caller's transaction. The per-experiment
reads are range scans of one experiment's rows through an index that
starts with ``experiment_id``, so they cost what the experiment holds and
nothing for the rest of the table:

* :func:`experiment_stats` and :func:`owner_stats` walk the queue index
  ``(experiment_id, status, …)`` and group by status;
* :func:`columns` walks ``(experiment_id, pk)`` in pk order (no sort);
* :func:`done_results` walks ``(experiment_id, status='DONE', …)``.

:func:`insert_many` bulk-loads jobs in one ``executemany`` statement, for
benchmarks and tests that need an experiment of 100k jobs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Float, Integer, Select, Text, bindparam, case, cast, exists, func, literal, select

from schedy.server.store.compiled import compiled, fetch_all
from schedy.server.store.experiments import COLUMNS as EXPERIMENT_COLUMNS
from schedy.server.store.experiments import visible
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import experiments, jobs, reports


def _ms_after_t0(column: Any) -> Any:
    # Relative times as integer milliseconds, computed by the database: far
    # cheaper than converting 100k floats in Python, and shorter on the wire.
    return cast(func.round((column - bindparam("p_t0", type_=Float)) * 1000.0), Integer)


#: The job columns the dashboard's table and plots need, in this order; times
#: are integer milliseconds after ``t0``.
COLUMNS = (
    jobs.c.pk,
    jobs.c.job_id,
    jobs.c.status,
    jobs.c.worker,
    jobs.c.member,
    jobs.c.generation,
    jobs.c.parent,
    jobs.c.attempt,
    _ms_after_t0(jobs.c.created_at).label("created_ms"),
    _ms_after_t0(jobs.c.started_at).label("started_ms"),
    _ms_after_t0(jobs.c.finished_at).label("finished_ms"),
    jobs.c.hyperparameters,
    jobs.c.results,
)


@dataclass(frozen=True)
class StatusStats:
    """Aggregates of one experiment's jobs in one status.

    Attributes:
        count: how many jobs.
        last_update: the latest ``updated_at`` among them.
        versions: the sum of their versions (grows with every change).
        max_pk: the largest pk among them.

    """

    count: int
    last_update: float
    versions: int
    max_pk: int


def _stats_of(rows: Iterable[AnyRow]) -> dict[str, StatusStats]:
    return {
        str(r.status): StatusStats(int(r.n), float(r.last_update), int(r.versions), int(r.max_pk)) for r in rows
    }


def _aggregates() -> tuple[Any, ...]:
    return (
        jobs.c.status,
        func.count().label("n"),
        func.max(jobs.c.updated_at).label("last_update"),
        func.sum(jobs.c.version).label("versions"),
        func.max(jobs.c.pk).label("max_pk"),
    )


@cache
def _experiment_stats_statement() -> Select[Any]:
    return (
        select(*_aggregates())
        .where(jobs.c.experiment_id == bindparam("p_experiment"))
        .group_by(jobs.c.status)
    )


def experiment_stats(conn: Connection, experiment_id: int) -> dict[str, StatusStats]:
    """Count, latest update, sum of versions and largest pk of the experiment's jobs, by status.

    Together they change whenever a job is added, changed or deleted, so
    they make a cheap fingerprint of the experiment's jobs.
    """
    return _stats_of(conn.execute(_experiment_stats_statement(), {"p_experiment": experiment_id}))


def owner_stats(conn: Connection, owner_id: int) -> dict[int, dict[str, StatusStats]]:
    """:func:`experiment_stats` of every experiment of ``owner_id`` (experiments without jobs are absent)."""
    statement = (
        select(jobs.c.experiment_id, *_aggregates())
        .join(experiments, experiments.c.id == jobs.c.experiment_id)
        .where(experiments.c.owner_id == owner_id)
        .group_by(jobs.c.experiment_id, jobs.c.status)
    )
    out: dict[int, list[AnyRow]] = {}
    for row in conn.execute(statement):
        out.setdefault(int(row.experiment_id), []).append(row)
    return {experiment_id: _stats_of(rows) for experiment_id, rows in out.items()}


def owner_experiments(conn: Connection, owner_id: int) -> list[AnyRow]:
    """Every experiment of ``owner_id``, by id: the columns ``store.experiments.get`` reads, and ``jobs_created``."""
    return list(
        conn.execute(
            select(*EXPERIMENT_COLUMNS, experiments.c.jobs_created)
            .where(experiments.c.owner_id == owner_id, visible())
            .order_by(experiments.c.id)
        )
    )


@cache
def columns_statement(since: bool, limited: bool = False) -> Select[Any]:
    """The statement of :func:`columns` (public so tests can check its query plan)."""
    query = select(*COLUMNS).where(jobs.c.experiment_id == bindparam("p_experiment"))
    if since:
        query = query.where(jobs.c.updated_at >= bindparam("p_since"))
    query = query.order_by(jobs.c.pk)
    return query.limit(bindparam("p_limit")) if limited else query


def columns(
    conn: Connection, experiment_id: int, t0: float, since: float | None = None, limit: int | None = None
) -> list[AnyRow]:
    """The experiment's jobs as :data:`COLUMNS`, oldest first (for a few jobs; all of them: :func:`column_texts`).

    Times are milliseconds after ``t0``. With ``since``, only the jobs
    updated at or after it; with ``limit``, at most that many.
    """
    params: dict[str, Any] = {"p_experiment": experiment_id, "p_since": since, "p_t0": t0, "p_limit": limit}
    return list(conn.execute(columns_statement(since is not None, limit is not None), params).all())


#: Fields of :func:`column_texts`, in order: each is the text of a JSON array.
TEXT_FIELDS = ("pk", "id", "status", "worker", "member", "generation", "parent", "attempt",
               "created", "started", "finished", "hyperparameters", "results")
_NON_FINITE = (jobs.c.results.like("%NaN%")) | (jobs.c.results.like("%Infinity%"))


def _json_text(column: Any, dialect: str) -> Any:
    """A column's value as JSON text (``null`` for NULL), computed by the database."""
    if dialect == "postgresql":
        return func.coalesce(cast(func.to_json(column), Text), literal("null"))
    return func.json_quote(column)  # SQLite: 'null' for NULL


def _number_text(value: Any) -> Any:
    return func.coalesce(cast(value, Text), literal("null"))


#: The groups of :data:`TEXT_FIELDS` read one statement each by :func:`column_text_groups`: the
#: stored JSON texts first (the most to send and to parse), then the plain fields.
FIELD_GROUPS: tuple[tuple[str, ...], ...] = (("hyperparameters", "results"), TEXT_FIELDS[:11])


@cache
def column_texts_statement(dialect: str, fields: tuple[str, ...] = TEXT_FIELDS) -> Select[Any]:
    """The statement of :func:`column_texts` for a dialect and fields (public so tests can check its plan).

    Its columns: the ``count(*)`` of the jobs read, then one aggregate per field.
    """
    # The aggregates read one subquery in pk order: every array is aligned and in pk
    # order, with one walk of the (experiment_id, pk) index and no sort per aggregate
    # (an ORDER BY inside each of 13 aggregates would sort 13 times on PostgreSQL).
    # The subquery holds only the columns the fields need.
    sources = dict(
        zip(
            TEXT_FIELDS,
            [*COLUMNS[:11], jobs.c.hyperparameters, case((_NON_FINITE, literal("null")), else_=jobs.c.results)],
            strict=True,
        )
    )
    j = (
        select(*[sources[f].label(f) for f in fields])
        .where(jobs.c.experiment_id == bindparam("p_experiment"))
        .order_by(jobs.c.pk)
        .subquery("j")
    )
    make: dict[str, Callable[[Any], Any]] = {
        "pk": _number_text,
        "id": lambda c: _json_text(c, dialect),
        "status": lambda c: _json_text(c, dialect),
        "worker": lambda c: _json_text(c, dialect),
        "member": lambda c: _json_text(c, dialect),
        "generation": _number_text,
        "parent": lambda c: _json_text(c, dialect),
        "attempt": _number_text,
        "created": _number_text,
        "started": _number_text,
        "finished": _number_text,
        "hyperparameters": lambda c: c,
        # JSON texts with NaN or Infinity are sent separately (non_finite_results).
        "results": lambda c: c,
    }
    aggregate = func.string_agg if dialect == "postgresql" else func.group_concat
    selected: list[Any] = [func.count(), *[aggregate(make[f](j.c[f]), literal(",")) for f in fields]]
    return select(*selected)


def column_texts(
    conn: Connection, experiment_id: int, t0: float, fields: tuple[str, ...] = TEXT_FIELDS
) -> tuple[int, dict[str, str]]:
    """How many jobs the experiment has and each of ``fields`` (:data:`TEXT_FIELDS`) as the text of a JSON array.

    The database concatenates the texts, so 100k jobs cost one aggregate
    scan and a few Python strings, not 100k rows of Python objects. Times
    are milliseconds after ``t0``. The ``results`` of jobs whose results
    hold NaN or ±Infinity are ``null`` here; read them with
    :func:`non_finite_results`. Arrays are aligned (the i-th items belong to
    one job) and in ``pk`` order.
    """
    statement = column_texts_statement(conn.dialect.name, fields)
    count, *values = conn.execute(statement, {"p_experiment": experiment_id, "p_t0": t0}).one()
    return int(count), {name: f"[{value or ''}]" for name, value in zip(fields, values, strict=True)}


def column_text_groups(
    conn: Connection, experiment_id: int, t0: float
) -> Iterator[tuple[int, dict[str, str]]]:
    """:func:`column_texts` of every field, one :data:`FIELD_GROUPS` group at a time (lazily).

    A caller can send a group while the next is read. Run in one snapshot
    (:meth:`schedy.server.store.Store.snapshot`), the groups are aligned;
    their counts tell if they are not.
    """
    for fields in FIELD_GROUPS:
        yield column_texts(conn, experiment_id, t0, fields)


def non_finite_results(conn: Connection, experiment_id: int) -> list[tuple[int, str]]:
    """``(pk, results JSON text)`` of the jobs whose results hold NaN or ±Infinity."""
    query = select(jobs.c.pk, jobs.c.results).where(jobs.c.experiment_id == experiment_id, _NON_FINITE)
    return [(int(pk), str(text)) for pk, text in conn.execute(query)]


@cache
def _done_results_statement(limited: bool) -> Select[Any]:
    query = (
        select(jobs.c.job_id, jobs.c.results)
        .where(jobs.c.experiment_id == bindparam("p_experiment"), jobs.c.status == "DONE")
        .order_by(jobs.c.priority, jobs.c.pk)
    )
    return query.limit(bindparam("p_limit")) if limited else query


def done_results(conn: Connection, experiment_id: int, limit: int | None = None) -> list[tuple[str, str]]:
    """``(job id, results JSON text)`` of the DONE jobs (the first ``limit`` if given), oldest first."""
    params = {"p_experiment": experiment_id, "p_limit": limit}
    return [(str(r.job_id), str(r.results)) for r in conn.execute(_done_results_statement(limit is not None), params)]


def children(conn: Connection, experiment_id: int, job_id: str) -> list[AnyRow]:
    """``(job_id, status, member, generation)`` of the jobs whose parent is ``job_id``, oldest first."""
    return list(
        conn.execute(
            select(jobs.c.job_id, jobs.c.status, jobs.c.member, jobs.c.generation)
            .where(jobs.c.experiment_id == experiment_id, jobs.c.parent == job_id)
            .order_by(jobs.c.pk)
        )
    )


def insert_many(conn: Connection, experiment_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk-load jobs into an experiment in one ``executemany``; return how many.

    Each row gives ``job_id``, ``status``, ``hyperparameters`` and
    ``results`` (JSON texts) and ``created_at``; optionally ``started_at``,
    ``finished_at``, ``updated_at`` (default: ``created_at``), ``worker``,
    ``member``, ``generation``, ``parent``, ``attempt``. No scheduler sees
    them and nothing is validated: this is for benchmarks and tests.
    """
    values = [
        {
            "experiment_id": experiment_id,
            "job_id": r["job_id"],
            "status": r["status"],
            "priority": 0,
            "hyperparameters": r["hyperparameters"],
            "results": r["results"],
            "version": 1,
            "created_at": r["created_at"],
            "updated_at": r.get("updated_at", r["created_at"]),
            "started_at": r.get("started_at"),
            "finished_at": r.get("finished_at"),
            "worker": r.get("worker"),
            "member": r.get("member"),
            "generation": r.get("generation"),
            "parent": r.get("parent"),
            "attempt": r.get("attempt", 1),
        }
        for r in rows
    ]
    if values:
        conn.execute(jobs.insert(), values)
    return len(values)


@cache
def _reported_statement() -> Select[Any]:
    # The experiment's jobs, each checked on the index (job_pk, pk) of the reports: no report row is read.
    return select(jobs.c.pk).where(
        jobs.c.experiment_id == bindparam("p_experiment"),
        exists(select(reports.c.pk).where(reports.c.job_pk == jobs.c.pk)),
    )


def reported_jobs(conn: Connection, experiment_id: int) -> list[int]:
    """The keys of the experiment's jobs that sent at least one report (for Hyperband's brackets)."""
    return [pk for (pk,) in fetch_all(conn, compiled(conn, _reported_statement), {"p_experiment": experiment_id})]
