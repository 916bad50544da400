"""Schema migrations, shipped in the package and applied at start.

Several service processes may start at once on one database: PostgreSQL
takes an advisory lock for the migration, SQLite's ``BEGIN IMMEDIATE``
write lock does the same; the second process finds the schema current.

A database a newer Schedy migrated (a revision this one does not know) is
refused with one sentence (:class:`NewerSchema`), never downgraded or
touched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from schedy import __version__
from schedy.server.store import Store
from schedy.server.store.engine import DatabaseUnavailable, is_sqlite, make_engine, read_only_url, shown_url

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


class NewerSchema(DatabaseUnavailable):
    """The database was migrated by a newer Schedy, to a revision this one does not know (one sentence)."""


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this version's migrations."""
    return revision in {script.revision for script in ScriptDirectory(str(_MIGRATIONS)).walk_revisions()}


def refuse_newer(url: str, revision: str | None) -> None:
    """Raise :class:`NewerSchema` if the database at ``url`` is at a ``revision`` this Schedy does not know."""
    if revision is not None and not known(revision):
        raise NewerSchema(
            f"The database {shown_url(url)} was migrated by a newer Schedy (schema revision {revision}; Schedy "
            f"{__version__} knows up to {head()}): run that version of Schedy, or a newer one, on it."
        )


def revision_of(url: str) -> str | None:
    """The revision of the database at ``url`` (``None``: no Schedy schema), read without changing it.

    A SQLite file is opened read-only (:func:`~schedy.server.store.engine.read_only_url`), so one that
    holds no Schedy schema keeps its journal mode. Call it inside
    :func:`~schedy.server.store.engine.opening`.
    """
    engine = make_engine(read_only_url(url) if is_sqlite(url) else url, write=False, pool_size=1)
    try:
        with engine.connect() as conn:
            return current(conn)
    finally:
        engine.dispose()


def upgrade(store: Store) -> None:
    """Bring the database schema to :func:`head` (a no-op when current).

    Raises:
        NewerSchema: a newer Schedy migrated the database (left unchanged).

    """
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revision = current(conn)
        if revision != head():
            refuse_newer(store.url, revision)
            command.upgrade(_config(conn), "head")
