"""Schema migrations, shipped in the package and applied at start.

Several service processes may start at once on one database: PostgreSQL
takes an advisory lock for the migration, SQLite's ``BEGIN IMMEDIATE``
write lock does the same; the second process finds the schema current.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from schedy.server.store import Store

_MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant naming Schedy's migration lock in pg_advisory_xact_lock.
_PG_LOCK_KEY = 0x5C4ED7


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision this version of Schedy knows."""
    return str(ScriptDirectory(str(_MIGRATIONS)).get_current_head())


def current(conn: Connection) -> str | None:
    """The revision the database is at (``None`` if empty)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store) -> None:
    """Bring the database schema to :func:`head` (a no-op when current)."""
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if current(conn) != head():
            command.upgrade(_config(conn), "head")
