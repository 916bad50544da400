"""session keys: every session names its user's random key, so none outlives its user or opens another

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:45:00.000000
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_key", sa.String(length=64), nullable=False, server_default=""))
    # Sessions issued before have no key: they end, and clients log in again.
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_key", sa.String))
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(sa.update(users).where(users.c.id == user_id).values(session_key=secrets.token_hex(16)))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_key")
