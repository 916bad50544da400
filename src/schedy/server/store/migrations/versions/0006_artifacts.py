"""artifacts: files attached to jobs, stored in a blob store

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("pk", BigId, autoincrement=True, nullable=False),
        sa.Column("job_pk", BigId, nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_pk"], ["jobs.pk"], name=op.f("fk_artifacts_job_pk_jobs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("job_pk", "name", name=op.f("uq_artifacts_job_pk_name")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index("ix_artifacts_user", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("artifacts")
