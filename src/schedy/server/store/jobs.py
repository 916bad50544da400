"""Jobs: the queue, atomic claims, conditional updates, keyset pages.

Every function runs inside the caller's transaction. The claim is a single
``UPDATE … WHERE pk = (SELECT … LIMIT 1 [FOR UPDATE SKIP LOCKED])
RETURNING …`` statement walking the queue index, so it costs the same with
ten jobs or ten million and never hands one job to two callers.

The statements are written with SQLAlchemy Core, built once with bound
parameters, compiled once per dialect and run on the DB-API cursor
(:mod:`schedy.server.store.compiled`): building an expression on every call,
or even executing a cached one through SQLAlchemy, cost several times what
SQLite takes to run it. Rows come back as :class:`JobRecord` tuples.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    Delete,
    Float,
    Insert,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)

from schedy.server.store.compiled import compiled, fetch_all, fetch_one, run
from schedy.server.store.dialect import insert_ignore
from schedy.server.store.engine import db_now
from schedy.server.store.experiments import COLUMNS as EXPERIMENT_COLUMNS
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import experiments, jobs

QUEUED, RUNNING, CRASHED, PRUNED, DONE = "QUEUED", "RUNNING", "CRASHED", "PRUNED", "DONE"
FINISHED = (DONE, CRASHED, PRUNED)
#: A lease survives this many missed heartbeats.
LEASE_BEATS = 3

COLUMNS = (
    jobs.c.pk,
    jobs.c.job_id,
    jobs.c.status,
    jobs.c.hyperparameters,
    jobs.c.results,
    jobs.c.version,
    jobs.c.created_at,
    jobs.c.updated_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.worker,
    jobs.c.member,
    jobs.c.generation,
    jobs.c.parent,
    jobs.c.attempt,
    jobs.c.lease_expires_at,
    jobs.c.end_reason,
    jobs.c.stop_reason,
    # Its type and message only: every list of crashed jobs read each traceback (up to 50,000 characters).
    jobs.c.error_brief.label("error"),
)


class JobRecord(NamedTuple):
    """A job as the store functions of this module return it: :data:`COLUMNS`, read by name."""

    pk: int
    job_id: str
    status: str
    hyperparameters: str  # JSON text
    results: str  # JSON text
    version: int
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    member: str | None
    generation: int | None
    parent: str | None
    attempt: int
    lease_expires_at: float | None
    end_reason: str | None
    stop_reason: str | None  # why the early-stopping policy said stop, once it did
    error: str | None  # JSON text: type and message of what the current attempt raised, if its worker sent it


#: A job row: a :class:`JobRecord`, or a SQLAlchemy row with the same columns.
JobRow: TypeAlias = JobRecord | AnyRow


def record(row: tuple[Any, ...] | None) -> JobRecord | None:
    """A statement's row of :data:`COLUMNS` as a :class:`JobRecord`; ``None`` for no row."""
    return None if row is None else JobRecord._make(row)


_record = record


def _p(name: str) -> BindParameter[Any]:
    # Parameter names must differ from column names in INSERT/UPDATE statements.
    return bindparam(f"p_{name}")


_LEASE = db_now() + bindparam("p_lease", type_=Float)  # NULL lease → NULL expiry


def _lease_params(heartbeat: float | None, max_run_time: float | None) -> dict[str, Any]:
    """A lease of LEASE_BEATS heartbeats, else of the maximum run time, else none."""
    lease = heartbeat * LEASE_BEATS if heartbeat is not None else max_run_time
    return {"p_heartbeat": heartbeat, "p_lease": lease}


def _this_job() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (jobs.c.experiment_id == _p("experiment"), jobs.c.job_id == _p("job"))


def _transition(status_group: str, *, lease: bool = True) -> dict[str, Any]:
    """Service-managed columns that follow a change to a status of ``status_group``.

    A job that becomes RUNNING gets the lease ``p_lease`` (seconds; NULL: none) with no heartbeat
    interval, as a claim without heartbeats does (a hard cap, which heartbeats do not extend); one
    already RUNNING keeps its lease. ``lease=False``: the statement only ever updates RUNNING jobs.
    """
    values: dict[str, Any] = {"status": _p("status"), "updated_at": db_now(), "version": jobs.c.version + 1}
    if status_group == RUNNING:
        starts = jobs.c.status != RUNNING
        values["started_at"] = case((starts, db_now()), else_=jobs.c.started_at)
        values.update(finished_at=None, end_reason=None)
        if lease:
            values["lease_expires_at"] = case((starts, _LEASE), else_=jobs.c.lease_expires_at)
            values["heartbeat_interval"] = case((starts, null()), else_=jobs.c.heartbeat_interval)
        return values
    values.update(heartbeat_interval=None, lease_expires_at=None)
    if status_group == DONE:
        # Not status.in_(FINISHED): an IN list is expanded per execution, a compiled statement is fixed.
        finished = or_(*(jobs.c.status == status for status in FINISHED))
        values["finished_at"] = case((finished, jobs.c.finished_at), else_=db_now())
        values["end_reason"] = case((finished, jobs.c.end_reason), else_="reported")
    else:  # QUEUED again: a fresh start, and the job's next attempt if it had started.
        values.update(started_at=None, finished_at=None, worker=None, end_reason=None, stop_reason=None, error=None)
        values["error_brief"] = None
        values["attempt"] = case((jobs.c.status != QUEUED, jobs.c.attempt + 1), else_=jobs.c.attempt)
    return values


def group(status: str) -> str:
    """The status group whose transition a change to ``status`` makes (``DONE`` for every finished status)."""
    return DONE if status in FINISHED else status


_group = group


def queue_head(experiment_id: int | ColumnElement[Any]) -> Select[tuple[int]]:
    """The pk of the next queued job, locked and skipping jobs locked by other claims.

    It walks the queue index ``(experiment_id, status, priority, pk)`` in
    index order, so it never visits claimed rows.
    """
    return (
        select(jobs.c.pk)
        .where(jobs.c.experiment_id == experiment_id, jobs.c.status == QUEUED)
        .order_by(jobs.c.priority, jobs.c.pk)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


@cache
def _experiment_and_queue_statement() -> Select[Any]:
    # The queue's head, ordered as the queue index (experiment, status, priority, pk) and
    # limited to one row, so the planner walks that index and stops at the first match.
    # Written as a bare EXISTS, PostgreSQL's generic plan (chosen for prepared statements
    # after a few executions) scans every QUEUED job of the table and filters, which grows
    # with every other experiment's queue.
    head = (
        select(jobs.c.pk)
        .where(jobs.c.experiment_id == experiments.c.id, jobs.c.status == QUEUED)
        .order_by(jobs.c.priority, jobs.c.pk)
        .limit(1)
        .scalar_subquery()
    )
    return select(*EXPERIMENT_COLUMNS, head).where(
        experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name")
    )


def experiment_and_queue(conn: Connection, owner_id: int, name: str) -> tuple[ExperimentRecord, bool] | None:
    """The experiment ``name`` of ``owner_id`` and whether any of its jobs is QUEUED; ``None`` if no such experiment.

    One statement (a probe of the queue index beside the experiment lookup):
    a claim that finds the queue empty then goes straight to its scheduler.
    """
    row = fetch_one(conn, compiled(conn, _experiment_and_queue_statement), {"p_owner": owner_id, "p_name": name})
    return experiment_and_queue_row(row)


def experiment_and_queue_row(row: tuple[Any, ...] | None) -> tuple[ExperimentRecord, bool] | None:
    """What :func:`experiment_and_queue` returns, from its statement's row."""
    return None if row is None else (ExperimentRecord._make(row[:-1]), row[-1] is not None)


def _claimed(head: Any) -> Update:
    """The job of pk ``head`` (a subquery) made RUNNING for the claiming worker, returning :data:`COLUMNS`."""
    return (
        update(jobs)
        .where(jobs.c.pk == head)
        .values(
            status=RUNNING,
            version=jobs.c.version + 1,
            started_at=db_now(),
            updated_at=db_now(),
            worker=_p("worker"),
            heartbeat_interval=_p("heartbeat"),
            lease_expires_at=_LEASE,
        )
        .returning(*COLUMNS)
    )


@cache
def _claim_statement() -> Update:
    return _claimed(queue_head(_p("experiment")).scalar_subquery())


@cache
def _claim_by_name_statement() -> Select[Any]:
    exp = (
        select(*EXPERIMENT_COLUMNS)
        .where(experiments.c.owner_id == bindparam("p_owner"), experiments.c.name == bindparam("p_name"))
        .cte("exp")
    )
    target = select(exp.c.id).where(exp.c.status != DONE).scalar_subquery()
    claimed = _claimed(queue_head(target).scalar_subquery()).cte("claimed")
    return select(*exp.c, *claimed.c).select_from(exp.outerjoin(claimed, true()))


def claim_by_name(
    conn: Connection, owner_id: int, name: str, worker: str | None, heartbeat: float
) -> tuple[ExperimentRecord, JobRecord | None] | None:
    """PostgreSQL: the experiment ``name`` of ``owner_id`` and the oldest queued job claimed, in one statement.

    The job is claimed (as :func:`claim_queued`, with a heartbeat lease) only
    if the experiment is not DONE; ``None`` for the job otherwise, or when no
    job is queued (or every queued one is being claimed). ``None`` if there
    is no such experiment.
    """
    row = fetch_one(
        conn, compiled(conn, _claim_by_name_statement), claim_by_name_params(owner_id, name, worker, heartbeat)
    )
    return claim_by_name_row(row)


def claim_by_name_params(owner_id: int, name: str, worker: str | None, heartbeat: float) -> dict[str, Any]:
    """The parameters of :func:`claim_by_name`'s statement."""
    return {"p_owner": owner_id, "p_name": name, "p_worker": worker, **_lease_params(heartbeat, None)}


def claim_by_name_row(row: tuple[Any, ...] | None) -> tuple[ExperimentRecord, JobRecord | None] | None:
    """What :func:`claim_by_name` returns, from its statement's row."""
    if row is None:
        return None
    width = len(EXPERIMENT_COLUMNS)
    return ExperimentRecord._make(row[:width]), _record(row[width:]) if row[width] is not None else None


def claim_queued(
    conn: Connection,
    experiment_id: int,
    worker: str | None,
    heartbeat: float | None,
    max_run_time: float | None = None,
) -> JobRecord | None:
    """Mark the oldest queued job RUNNING and return it; ``None`` if none is queued.

    The job gets a lease of ``LEASE_BEATS`` heartbeats when the worker will
    send them, else of ``max_run_time`` seconds when the experiment sets one.
    """
    return _record(
        fetch_one(
            conn, compiled(conn, _claim_statement), claim_queued_params(experiment_id, worker, heartbeat, max_run_time)
        )
    )


def claim_queued_params(
    experiment_id: int, worker: str | None, heartbeat: float | None, max_run_time: float | None
) -> dict[str, Any]:
    """The parameters of :func:`claim_queued`'s statement."""
    return {"p_experiment": experiment_id, "p_worker": worker, **_lease_params(heartbeat, max_run_time)}


#: The columns a new job's ``INSERT … SELECT`` sets (:func:`new_job_select`; the others take their defaults).
NEW_JOB_COLUMNS = [
    "experiment_id",
    "job_id",
    "status",
    "priority",
    "hyperparameters",
    "results",
    "version",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "end_reason",
    "worker",
    "member",
    "generation",
    "parent",
    "attempt",
    "heartbeat_interval",
    "lease_expires_at",
    "made_by_search",
]


def new_job_select(experiment_id: ColumnElement[Any], status: ColumnElement[Any], status_group: str) -> Select[Any]:
    """The row of a new job in ``status`` (of ``status_group``), for ``INSERT … SELECT`` into :data:`NEW_JOB_COLUMNS`.

    Its parameters are :func:`insert_params`'. The database clock is read once for the whole row
    (a one-row subquery): PostgreSQL's ``clock_timestamp()`` moves within a statement, and a RUNNING
    job's ``started_at`` is its ``created_at``.
    """
    now = select(db_now().label("now")).subquery("clock").c.now
    started = status_group in (RUNNING, DONE)
    finished = status_group == DONE
    return select(
        experiment_id,
        bindparam("p_job", type_=String),
        status,
        literal(0),
        bindparam("p_hps", type_=String),
        bindparam("p_results", type_=String),
        literal(1),
        now,
        now,
        now if started else cast(null(), Float),
        now if finished else cast(null(), Float),
        literal("reported") if finished else cast(null(), String),
        bindparam("p_worker", type_=String),
        bindparam("p_member", type_=String),
        bindparam("p_generation", type_=Integer),
        bindparam("p_parent", type_=String),
        bindparam("p_attempt", type_=Integer),
        bindparam("p_heartbeat", type_=Float),
        now + bindparam("p_lease", type_=Float),  # NULL lease → NULL expiry
        bindparam("p_by_search", type_=Boolean),
    )


@cache
def _insert_statement(dialect: str, status_group: str, if_absent: bool) -> Insert:
    statement = insert_ignore(dialect, jobs, ["experiment_id", "job_id"]) if if_absent else jobs.insert()
    # WHERE true: SQLite reads the ON of an upsert after a bare SELECT … FROM as a join's.
    row = new_job_select(bindparam("p_experiment", type_=Integer), bindparam("p_status", type_=String), status_group)
    return statement.from_select(NEW_JOB_COLUMNS, row.where(true())).returning(*COLUMNS)


def insert(
    conn: Connection,
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    worker: str | None = None,
    heartbeat: float | None = None,
    max_run_time: float | None = None,
    member: str | None = None,
    generation: int | None = None,
    parent: str | None = None,
    attempt: int = 1,
    if_absent: bool = False,
) -> JobRecord | None:
    """Create a job; with ``if_absent``, ``None`` when the id is taken (nothing written)."""
    params = insert_params(
        experiment_id,
        job_id,
        status,
        hyperparameters,
        results,
        worker=worker,
        heartbeat=heartbeat,
        max_run_time=max_run_time,
        member=member,
        generation=generation,
        parent=parent,
        attempt=attempt,
    )
    return insert_with(conn, params, if_absent=if_absent)


def insert_with(conn: Connection, params: dict[str, Any], *, if_absent: bool = False) -> JobRecord | None:
    """:func:`insert` from its statement's parameters (:func:`insert_params`)."""
    statement = compiled(conn, _insert_statement, conn.dialect.name, _group(params["p_status"]), if_absent)
    return _record(fetch_one(conn, statement, params))


def insert_params(
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    worker: str | None = None,
    heartbeat: float | None = None,
    max_run_time: float | None = None,
    member: str | None = None,
    generation: int | None = None,
    parent: str | None = None,
    attempt: int = 1,
    by_search: bool = False,
) -> dict[str, Any]:
    """The parameters of :func:`insert`'s statement; ``by_search``: the experiment's search made the job (a claim)."""
    return {
        "p_experiment": experiment_id,
        "p_job": job_id,
        "p_status": status,
        "p_hps": hyperparameters,
        "p_results": results,
        "p_worker": worker,
        "p_member": member,
        "p_generation": generation,
        "p_parent": parent,
        "p_attempt": attempt,
        "p_by_search": by_search,
        **(_lease_params(heartbeat, max_run_time) if status == RUNNING else _lease_params(None, None)),
    }


@cache
def _get_statement() -> Select[Any]:
    return select(*COLUMNS).where(*_this_job())


def get(conn: Connection, experiment_id: int, job_id: str) -> JobRecord | None:
    """The job, if it exists."""
    return _record(fetch_one(conn, compiled(conn, _get_statement), {"p_experiment": experiment_id, "p_job": job_id}))


@cache
def _get_locked_statement() -> Select[Any]:
    return select(*COLUMNS).where(*_this_job()).with_for_update()


def get_locked(conn: Connection, experiment_id: int, job_id: str) -> JobRecord | None:
    """The job, if it exists, its row locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    params = {"p_experiment": experiment_id, "p_job": job_id}
    return _record(fetch_one(conn, compiled(conn, _get_locked_statement), params))


@cache
def _replace_statement(status_group: str, conditional: bool) -> Update:
    conditions = list(_this_job())
    if conditional:
        conditions += [jobs.c.pk == _p("pk"), jobs.c.version == _p("version")]
    return (
        update(jobs)
        .where(*conditions)
        .values(hyperparameters=_p("hps"), results=_p("results"), **_transition(status_group))
        .returning(*COLUMNS)
    )


def replace(
    conn: Connection,
    experiment_id: int,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    *,
    expected: tuple[int, int] | None = None,
    max_run_time: float | None = None,
) -> JobRecord | None:
    """Replace status, hyperparameters and results; ``None`` if absent or changed.

    ``expected`` is the ``(pk, version)`` the caller's ETag names; when
    given, the update happens only if the job is still that version.
    A job this makes RUNNING gets a lease of ``max_run_time`` seconds (the
    experiment's ``maxRunTime``; ``None``: no lease), as a claim without
    heartbeats would give it; one that was RUNNING already keeps its own.
    """
    params: dict[str, Any] = {
        "p_experiment": experiment_id,
        "p_job": job_id,
        "p_status": status,
        "p_hps": hyperparameters,
        "p_results": results,
    }
    if _group(status) == RUNNING:
        params["p_lease"] = _lease_params(None, max_run_time)["p_lease"]
    if expected is not None:
        params.update(p_pk=expected[0], p_version=expected[1])
    statement = compiled(conn, _replace_statement, _group(status), expected is not None)
    return _record(fetch_one(conn, statement, params))


@cache
def _replace_named_statement(status_group: str, conditional: bool = True) -> Update:
    # The experiment by owner and name in the same statement: a worker's update
    # needs no separate lookup (the row is found by its pk anyway).
    experiment = (
        select(experiments.c.id)
        .where(experiments.c.owner_id == _p("owner"), experiments.c.name == _p("name"))
        .scalar_subquery()
    )
    conditions = [jobs.c.experiment_id == experiment, jobs.c.job_id == _p("job")]
    if conditional:
        conditions += [jobs.c.pk == _p("pk"), jobs.c.version == _p("version")]
    if status_group == RUNNING:
        # Only a job RUNNING already (its worker's update): one that starts gets the lease of the
        # experiment's maxRunTime, which this statement does not read (:func:`replace` gives it).
        conditions.append(jobs.c.status == RUNNING)
    return (
        update(jobs)
        .where(*conditions)
        .values(hyperparameters=_p("hps"), results=_p("results"), **_transition(status_group, lease=False))
        .returning(*COLUMNS)
    )


def replace_named(
    conn: Connection,
    owner_id: int,
    experiment: str,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    expected: tuple[int, int] | None,
) -> JobRecord | None:
    """:func:`replace` of a job of the experiment ``experiment`` of ``owner_id``: version ``expected``, if given.

    ``None`` when the experiment, the job or that version does not exist (nothing written), and when
    ``status`` is RUNNING and the job is not RUNNING yet: :func:`replace` starts it, with its lease.
    """
    params = replace_named_params(owner_id, experiment, job_id, status, hyperparameters, results, expected)
    statement = compiled(conn, _replace_named_statement, _group(status), expected is not None)
    return _record(fetch_one(conn, statement, params))


def replace_named_params(
    owner_id: int,
    experiment: str,
    job_id: str,
    status: str,
    hyperparameters: str,
    results: str,
    expected: tuple[int, int] | None,
) -> dict[str, Any]:
    """The parameters of :func:`replace_named`'s statement."""
    params: dict[str, Any] = {
        "p_owner": owner_id,
        "p_name": experiment,
        "p_job": job_id,
        "p_status": status,
        "p_hps": hyperparameters,
        "p_results": results,
    }
    if expected is not None:
        params.update(p_pk=expected[0], p_version=expected[1])
    return params


@cache
def _delete_statement(conditional: bool) -> Delete:
    conditions = list(_this_job())
    if conditional:
        conditions += [jobs.c.pk == _p("pk"), jobs.c.version == _p("version")]
    return delete(jobs).where(*conditions)


def delete_one(conn: Connection, experiment_id: int, job_id: str, *, expected: tuple[int, int] | None = None) -> bool:
    """Delete the job (only version ``expected`` of it, if given: ``(pk, version)``); ``False`` if nothing was."""
    params: dict[str, Any] = {"p_experiment": experiment_id, "p_job": job_id}
    if expected is not None:
        params.update(p_pk=expected[0], p_version=expected[1])
    return run(conn, compiled(conn, _delete_statement, expected is not None), params) == 1


@cache
def _heartbeat_statement() -> Update:
    interval = jobs.c.heartbeat_interval
    return (
        update(jobs)
        .where(*_this_job(), jobs.c.status == RUNNING)
        # A lease from the experiment's maximum run time (no interval) is a hard cap: kept as it is.
        .values(
            lease_expires_at=case(
                (interval.is_(None), jobs.c.lease_expires_at), else_=db_now() + interval * LEASE_BEATS
            )
        )
        .returning(*COLUMNS)
    )


def heartbeat(conn: Connection, experiment_id: int, job_id: str) -> JobRecord | None:
    """Extend a RUNNING job's lease (the ETag does not change); ``None`` if not RUNNING."""
    params = {"p_experiment": experiment_id, "p_job": job_id}
    return _record(fetch_one(conn, compiled(conn, _heartbeat_statement), params))


@cache
def _page_statement(first: bool) -> Select[Any]:
    query = select(*COLUMNS).where(jobs.c.experiment_id == _p("experiment"))
    if not first:
        query = query.where(jobs.c.pk > _p("after"))
    return query.order_by(jobs.c.pk).limit(_p("limit"))


def page(conn: Connection, experiment_id: int, after_pk: int | None, limit: int) -> list[JobRecord]:
    """Up to ``limit`` jobs with pk > ``after_pk``, oldest first."""
    params = {"p_experiment": experiment_id, "p_after": after_pk, "p_limit": limit}
    rows = fetch_all(conn, compiled(conn, _page_statement, after_pk is None), params)
    return [JobRecord._make(r) for r in rows]


def now(conn: Connection) -> float:
    """The database clock."""
    return float(conn.execute(select(db_now())).scalar_one())


#: The prefix of the members of jobs added by hand to a PBT experiment: ``h0``, ``h1``…
HAND_MEMBER_PREFIX = "h"


def next_hand_member(conn: Connection, experiment_id: int) -> str:
    """The member name of the next job added by hand to a PBT experiment: ``h0``, ``h1``… in order of addition.

    Takes the experiment's row lock first (PostgreSQL; SQLite write transactions are exclusive), so two
    jobs added at once never get one name. Names are deterministic, so a seeded run whose population
    started with jobs added by hand makes the same decisions, whatever ids the jobs got.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(experiments.c.id).where(experiments.c.id == experiment_id).with_for_update())
    taken = conn.execute(
        select(func.count(func.distinct(jobs.c.member))).where(
            jobs.c.experiment_id == experiment_id,
            jobs.c.generation == 1,
            jobs.c.parent.is_(None),
            jobs.c.member.like(HAND_MEMBER_PREFIX + "%"),
        )
    ).scalar_one()
    return f"{HAND_MEMBER_PREFIX}{taken}"
