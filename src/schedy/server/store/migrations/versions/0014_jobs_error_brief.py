"""jobs.error_brief: a crashed job's error without its traceback, what every read of the job returns

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:40:00.000000

A job's JSON carries what its attempt raised, type and message (wire.brief_error). They were cut out
of the stored error, traceback included (up to 50,000 characters), on every read: a list of 3,000
jobs crashed with 40 KiB tracebacks moved 120 MB out of the database and parsed it. From this
revision the type and message are written beside the error, and the rows already there get theirs.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Rows read and written per round trip of the back-fill.
_BATCH = 1000


def _brief(text: str) -> str | None:
    try:
        error = json.loads(text)
    except ValueError:  # not expected: the service writes it
        return None
    if not isinstance(error, dict):
        return None
    return json.dumps({"type": str(error.get("type", "")), "message": str(error.get("message", ""))})


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_brief", sa.Text(), nullable=True))
    columns = (sa.column("pk", sa.Integer()), sa.column("error", sa.Text()), sa.column("error_brief", sa.Text()))
    jobs = sa.table("jobs", *columns)
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(
            sa.select(jobs.c.pk, jobs.c.error)
            .where(jobs.c.error.is_not(None), jobs.c.pk > after)
            .order_by(jobs.c.pk)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        briefs = [{"p_pk": pk, "p_brief": _brief(error)} for pk, error in rows]
        conn.execute(
            jobs.update().where(jobs.c.pk == sa.bindparam("p_pk")).values(error_brief=sa.bindparam("p_brief")),
            briefs,
        )
        after = rows[-1].pk


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("error_brief")
