"""notes: plain text people keep on an experiment or a job

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 07:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiment_notes",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_notes_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiment_notes")),
    )
    op.create_table(
        "job_notes",
        sa.Column("job_pk", BigId, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_pk"], ["jobs.pk"], name=op.f("fk_job_notes_job_pk_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_pk", name=op.f("pk_job_notes")),
    )


def downgrade() -> None:
    op.drop_table("job_notes")
    op.drop_table("experiment_notes")
