"""reports: the attempt of the job that sent each report

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default on both databases: no copy of the table.
    op.add_column("reports", sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("attempt")
