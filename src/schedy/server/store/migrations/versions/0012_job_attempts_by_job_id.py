"""job_attempts: an index by job id and attempt, to find the retry that took over a lapsed job

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:00:00.000000

A worker whose job's lease lapsed may still send its result; the service keeps it and withdraws the
retry the lease sweep queued, if nobody has claimed it yet (service/leases.py: late ends). The retry
is the job whose attempts list the lapsed job's id and attempt.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_job_attempts_job_id", ["job_id", "attempt"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_job_attempts_job_id")
