"""Table definitions (the storage schema; separate from the wire schema).

Times are stored as seconds since the epoch (double precision) taken from
the database clock (:func:`schedy.server.store.engine.db_now`), which keeps
comparisons (leases, ordering) cheap and identical on SQLite and PostgreSQL.
Hyperparameters and results are stored as JSON *text*, not a JSON column:
results may hold NaN and ±Infinity, which PostgreSQL's JSON types refuse,
and the text is spliced into answers without being parsed again.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (fast, auto).
BigId = BigInteger().with_variant(Integer(), "sqlite")

installation = Table(
    "installation",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    # Random, never reused: every session token names it, so a session never
    # outlives its user or opens another user given the same id (SQLite
    # reuses the ids of deleted rows). Replaced when the password changes.
    Column("session_key", String(64), nullable=False, server_default=""),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(1000), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduler", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("options", Text, nullable=False, default="{}"),
    Column("rng_state", Text, nullable=True),
    # Bumped by every decision of a scheduler that reads the history: a
    # decision commits only if no other was committed since its history was read.
    Column("decision_seq", Integer, nullable=False, default=0, server_default="0"),
    # Bumped when jobs are deleted: cached histories then read the experiment afresh.
    Column("history_epoch", Integer, nullable=False, default=0, server_default="0"),
    # Jobs the search created, counted against the maxJobs option (store/budget.py).
    Column("jobs_created", Integer, nullable=False, default=0, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("owner_id", "name"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("hyperparameters", Text, nullable=False),
    Column("results", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("worker", String(200), nullable=True),
    Column("member", String(64), nullable=True),
    Column("generation", Integer, nullable=True),
    Column("parent", String(64), nullable=True),
    Column("attempt", Integer, nullable=False, default=1),
    Column("heartbeat_interval", Float, nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("end_reason", String(32), nullable=True),
    # Set once the early-stopping policy decided the job should stop: every
    # later report of the job is answered "stop" with this sentence.
    Column("stop_reason", Text, nullable=True),
    # What the worker said when the job crashed: {"type", "message", "traceback"} (JSON text).
    Column("error", Text, nullable=True),
    # Whether the experiment's search created the job (a claim inserted it), for a maxJobs budget set on
    # a search that already ran (store/budget.py): jobs added by hand, imports and retries are not.
    Column("made_by_search", Boolean, nullable=False, default=False, server_default=false()),
    # The error's type and message only, {"type", "message"} (JSON text), written with it: what a job's
    # JSON shows (wire.brief_error), read with every job without reading the traceback.
    Column("error_brief", Text, nullable=True),
    UniqueConstraint("experiment_id", "job_id"),
    # The queue index: a claim walks (experiment, QUEUED) in (priority, pk)
    # order. With (experiment, status, pk) and ORDER BY pk, PostgreSQL's
    # planner walks the primary key past every claimed row instead.
    Index("ix_jobs_queue", "experiment_id", "status", "priority", "pk"),
    # Lists and population snapshots read an experiment's jobs in pk order.
    Index("ix_jobs_experiment_order", "experiment_id", "pk"),
    # A history refresh reads the jobs changed since its watermark.
    Index("ix_jobs_changes", "experiment_id", "updated_at"),
    # The lease sweep looks for lapsed leases; only RUNNING jobs have one.
    Index("ix_jobs_lease", "lease_expires_at"),
)

experiment_events = Table(
    "experiment_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

# Intermediate reports of jobs (early stopping): a series per job, insert-only.
# Read by job (its series, keyset-paginated) and by experiment in pk order
# (the policies' per-process state is built and refreshed from it).
reports = Table(
    "reports",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("job_pk", BigId, ForeignKey("jobs.pk", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # The job's attempt that sent it: a job set back to QUEUED starts its next attempt, judged afresh.
    Column("attempt", Integer, nullable=False, default=1, server_default="1"),
    Index("ix_reports_job", "job_pk", "pk"),
    Index("ix_reports_experiment", "experiment_id", "pk"),
    # PostgreSQL only: its rows may commit out of pk order, so the early-stopping state also reads the
    # last seconds' reports by time (store/reports.py: recent). On SQLite, one writer at a time, they
    # commit in pk order and nothing reads by time: the index would only cost every report (migration 0011).
    Index("ix_reports_recent", "experiment_id", "created_at").ddl_if(dialect="postgresql"),
)

# The outcome of each earlier attempt of a job: kept when a CRASHED job is
# re-queued (the job starts its next attempt) and copied to the job a lease
# sweep adds to retry a lapsed one (``job_id`` says which job ran it).
job_attempts = Table(
    "job_attempts",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("job_pk", BigId, ForeignKey("jobs.pk", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("end_reason", String(32), nullable=True),
    Column("worker", String(200), nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("results", Text, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_job_attempts_job", "job_pk", "attempt"),
    # Which job took over a lapsed job's attempt (its retry): a late result withdraws it (migration 0012).
    Index("ix_job_attempts_job_id", "job_id", "attempt"),
)

# Plain text people keep on an experiment or a job (migration 0009; store/notes.py).
experiment_notes = Table(
    "experiment_notes",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("text", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

job_notes = Table(
    "job_notes",
    metadata,
    Column("job_pk", BigId, ForeignKey("jobs.pk", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Files attached to jobs (checkpoints, models): the bytes live in a blob
# store (service/artifacts.py), a row makes them visible. Deleting a job
# (or its experiment) sets job_pk NULL; every service process then deletes
# such rows' blobs, and the rows, in the background. user_id (no foreign
# key: the row must outlive its user until its blob is gone) counts quotas.
artifacts = Table(
    "artifacts",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("job_pk", BigId, ForeignKey("jobs.pk", ondelete="SET NULL"), nullable=True),
    Column("user_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("job_pk", "name"),
    Index("ix_artifacts_user", "user_id"),
)

# Failed logins per (email, client address), for throttling password and
# token guessing across every service process (see
# schedy.server.service.auth). ``key`` is a SHA-256 of the pair, so neither
# is kept in clear.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("last_failure_at", Float, nullable=False, index=True),
)
