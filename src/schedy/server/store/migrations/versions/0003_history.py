"""history: decision sequence, history epoch, and the index of changes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 17:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("history_epoch", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_changes", ["experiment_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_changes")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("history_epoch")
        batch_op.drop_column("decision_seq")
