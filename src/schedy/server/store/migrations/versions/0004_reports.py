"""reports: intermediate reports of jobs, and the stop decision on a job

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 00:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stop_reason", sa.Text(), nullable=True))
    op.create_table(
        "reports",
        sa.Column("pk", BigId, autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("job_pk", BigId, nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], name=op.f("fk_reports_experiment_id_experiments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["job_pk"], ["jobs.pk"], name=op.f("fk_reports_job_pk_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_job", ["job_pk", "pk"], unique=False)
        batch_op.create_index("ix_reports_experiment", ["experiment_id", "pk"], unique=False)
        batch_op.create_index("ix_reports_recent", ["experiment_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("reports")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("stop_reason")
