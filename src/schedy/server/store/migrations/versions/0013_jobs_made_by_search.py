"""jobs.made_by_search: the jobs an experiment's search created, marked when a claim inserts them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:20:00.000000

A maxJobs budget set on a search that already ran counts the jobs the search created so far
(store/budget.py). They were told from jobs added by hand by their times (started when created, by
one reading of the clock), which miscounted a job added by hand as RUNNING (started when created
too) and jobs of versions before 268bd7f, which read the clock twice for one row (up to
milliseconds apart on a busy PostgreSQL). From this revision a claim marks the rows it inserts.

The rows already there are marked by their times, with a tolerance of 10 ms for those older
readings: a job added by hand as RUNNING before this revision is still counted as the search's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Seconds within which a job's ``created_at`` and ``started_at`` are taken as its claim's (older rows).
_TOLERANCE = 0.01


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("made_by_search", sa.Boolean(), nullable=False, server_default=sa.false()))
    jobs = sa.table(
        "jobs",
        sa.column("made_by_search", sa.Boolean()),
        sa.column("attempt", sa.Integer()),
        sa.column("created_at", sa.Float()),
        sa.column("started_at", sa.Float()),
        sa.column("finished_at", sa.Float()),
        sa.column("updated_at", sa.Float()),
        sa.column("worker", sa.String()),
        sa.column("version", sa.Integer()),
    )
    # As budget.py told them before this revision (see its history): an import was added finished, by
    # nobody's claim, as version 1 (or changed since, after it finished).
    added_finished = (
        jobs.c.worker.is_(None)
        & (jobs.c.finished_at - jobs.c.created_at < _TOLERANCE)
        & sa.or_(jobs.c.version == 1, jobs.c.updated_at - jobs.c.finished_at >= _TOLERANCE)
    )
    op.execute(
        jobs.update()
        .where(
            jobs.c.attempt == 1,
            jobs.c.started_at - jobs.c.created_at < _TOLERANCE,
            sa.or_(jobs.c.finished_at.is_(None), ~added_finished),
        )
        .values(made_by_search=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("made_by_search")
