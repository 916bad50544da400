"""reports: no index by time on SQLite, where nothing reads it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 00:45:00.000000

SQLite commits reports in pk order (one writer at a time), so the early-stopping state never reads
them by time there; the index cost every report an insert into a third index (7–8 µs of 40).
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_reports_recent", table_name="reports")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_reports_recent", "reports", ["experiment_id", "created_at"], unique=False)
