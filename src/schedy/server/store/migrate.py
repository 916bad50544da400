"""Schema migrations, shipped in the package and applied at start.

Several service processes may start at once on one database: PostgreSQL
takes an advisory lock for the migration, SQLite's ``BEGIN IMMEDIATE``
write lock does the same; the second process finds the schema current.

A service's start upgrades an existing schema (:func:`upgrade`); the
commands that open a service's database directly (``schedy user …``)
refuse an older one (:func:`refuse_older`) and leave it as it is, and
``schedy database copy`` upgrades only an empty target, in the copy's own
transaction (:func:`upgrade_within`). An upgrade is logged in one line (a
warning: it cannot be undone, an older Schedy cannot use the database
afterwards, so docs/service.md says to back it up first); creating the
schema of an empty database is not.

A database a newer Schedy migrated (a revision this one does not know) is
refused with one sentence (:class:`NewerSchema`), never downgraded or
touched. So is a PostgreSQL database the role Schedy connects as may not
create its tables in (:class:`NoPrivilege`; since PostgreSQL 15 a role may
not create tables in a database's ``public`` schema it does not own): the
migration is one transaction, so nothing of it is left.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from schedy import __version__
from schedy.server.store import Store
from schedy.server.store.engine import DatabaseUnavailable, is_sqlite, make_engine, read_only_url, shown_url

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant naming Schedy's migration lock in pg_advisory_xact_lock.
_PG_LOCK_KEY = 0x5C4ED7
# PostgreSQL's SQLSTATE for insufficient_privilege.
_INSUFFICIENT_PRIVILEGE = "42501"


def _config(conn: Connection) -> Config:
    from alembic.config import Config  # only to upgrade (see _revisions)

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


_REVISION_LINE = re.compile(r'^(revision|down_revision) = (?:"([^"]+)"|None)$', re.MULTILINE)


@cache
def _revisions() -> tuple[frozenset[str], str]:
    """Every revision of this version's migrations, and the newest, read from their files.

    Alembic (with Mako and Pygments, about a tenth of a service's start) is imported only to upgrade: the
    revisions are the ``revision = "…"`` and ``down_revision = "…"`` lines of the scripts, one chain
    (tests/server/store/test_migrations.py checks the answer against Alembic's).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
        for kind, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            if value:
                (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:  # a broken package: say so rather than pick one
        raise RuntimeError(f"Schedy's migrations have {len(heads)} heads ({sorted(heads)}), not one.")
    return frozenset(revisions), heads.pop()


def head() -> str:
    """The newest revision this version of Schedy knows."""
    return _revisions()[1]


def current(conn: Connection) -> str | None:
    """The revision the database is at (``None`` if empty): the row of Alembic's ``alembic_version`` table."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


class NewerSchema(DatabaseUnavailable):
    """The database was migrated by a newer Schedy, to a revision this one does not know (one sentence)."""


class NoPrivilege(DatabaseUnavailable):
    """The role Schedy connects as may not create (or use) Schedy's tables in the database (one sentence)."""


def _sql_name(name: str) -> str:
    """``name`` as an SQL identifier: quoted unless PostgreSQL would read it as it is."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def _role(url: str) -> str:
    """The role a connection to ``url`` logs in as, as libpq picks it: the URL's user, else PGUSER, else ours."""
    return _sql_name(make_url(url).username or os.environ.get("PGUSER") or getpass.getuser())


@contextmanager
def _privileges(url: str) -> Iterator[None]:
    """Turn PostgreSQL's ``permission denied`` (SQLSTATE 42501) into :class:`NoPrivilege`, saying what to do."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        role = _role(url)
        database = _sql_name(make_url(url).database or role)
        reason = str(exc.orig).strip().splitlines()[0].rstrip(".")
        if "schema" in reason:
            what, advice = (
                "create",
                f"make it the database's owner (ALTER DATABASE {database} OWNER TO {role}) or let it create "
                f"tables (GRANT CREATE ON SCHEMA public TO {role}, in that database), then run this again",
            )
        else:  # Schedy's tables are there, created by another role
            what, advice = "use", f"connect as the role that created them, or make {role} their owner"
        raise NoPrivilege(
            f"The role {role} may not {what} Schedy's tables in the database {shown_url(url)} ({reason}): "
            f"{advice}; nothing was changed."
        ) from None


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this version's migrations."""
    return revision in _revisions()[0]


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
    with reading(url) as conn:
        return current(conn)


@contextmanager
def reading(url: str) -> Iterator[Connection]:
    """A connection to the database at ``url`` that never changes it (a SQLite file is opened read-only).

    PostgreSQL's ``permission denied`` is :class:`NoPrivilege`. Call it inside
    :func:`~schedy.server.store.engine.opening`.
    """
    engine = make_engine(read_only_url(url) if is_sqlite(url) else url, write=False, pool_size=1)
    try:
        with _privileges(url), engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def upgrade(store: Store, *, older: bool = True) -> None:
    """Bring the database schema to :func:`head` (a no-op when current).

    Once an existing schema was upgraded (committed), logs one warning line, e.g. "Upgraded the database
    from schema 0002 to 0014 …": the upgrade is one-way, an older Schedy cannot use the database after it.
    ``older=False`` (the commands that only administer the database) creates the schema of a database
    that has none, and refuses an older one (:func:`refuse_older`), checked in the same transaction.

    Raises:
        NewerSchema: a newer Schedy migrated the database (left unchanged).
        OlderSchema: ``older`` is false and the database has an older Schedy's schema (left unchanged).
        NoPrivilege: PostgreSQL refused the role the tables (left unchanged: the migration is one transaction).

    """
    with _privileges(store.url), store.write() as conn:
        upgraded = upgrade_within(conn, store.url, older=older)
    if upgraded is not None:  # not a new database's first schema
        log_upgraded(upgraded)


def upgrade_within(conn: Connection, url: str, *, older: bool = True) -> str | None:
    """Bring the schema of ``url``'s database to :func:`head` inside the caller's write transaction ``conn``.

    For a caller whose own writes must commit with the schema or not at all (``schedy database copy``
    creates its target's tables and fills them in one transaction). Answers the revision an existing
    schema was upgraded from, to pass to :func:`log_upgraded` once committed (``None``: the schema was
    current, or the database had none and got its first).

    Raises:
        NewerSchema: a newer Schedy migrated the database (nothing was run).
        OlderSchema: ``older`` is false and the database has an older Schedy's schema (nothing was run).
        NoPrivilege: PostgreSQL refused the role the tables (the caller's transaction must roll back).

    """
    with _privileges(url):
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revision = current(conn)
        if revision != head():
            refuse_newer(url, revision)
            if not older:
                refuse_older(url, revision)
            from alembic import command  # only to upgrade (see _revisions)

            command.upgrade(_config(conn), "head")
        if conn.dialect.name == "postgresql":
            _refuse_missing_grants(conn, url)
    return revision if revision != head() else None


def log_upgraded(revision: str) -> None:
    """Log the one warning line of an existing schema upgraded from ``revision`` (once committed)."""
    logger.warning(
        "Upgraded the database from schema %s to %s (Schedy %s); this cannot be undone: an older Schedy "
        "cannot use the database any more.",
        revision,
        head(),
        __version__,
    )


class OlderSchema(DatabaseUnavailable):
    """The database has an older Schedy's schema, which only a service's start upgrades (one sentence)."""


def refuse_older(url: str, revision: str | None) -> None:
    """Raise :class:`OlderSchema` if the database at ``url`` has an older schema than this Schedy's.

    For the commands that open the service's database directly (``schedy user …``): an upgrade cannot
    be undone, and the service processes still serving the database (an older Schedy) could not use it
    after it, so only starting this version's ``schedy server`` on it, which is the upgrade's documented
    way (after a backup, docs/service.md, "Upgrading"), does it. ``None`` (no Schedy schema yet) and a
    revision this Schedy does not know (see :func:`refuse_newer`) pass.
    """
    if revision is not None and revision != head() and known(revision):
        raise OlderSchema(
            f"The database {shown_url(url)} has the schema of an older Schedy (revision {revision}; Schedy "
            f"{__version__} needs {head()}), and this command does not upgrade it: back it up and upgrade it by "
            f"starting this version's service on it (schedy server --database {shown_url(url)}; docs/service.md, "
            '"Upgrading"), or run the Schedy that serves it; nothing was changed.'
        )


# What a service does to each of its tables, and to the sequences of their generated keys.
_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
_MISSING_GRANTS = text(
    """
    SELECT t.relname
    FROM pg_class AS t
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:names)
      AND NOT has_table_privilege(t.oid, :privileges)
    UNION
    SELECT s.relname
    FROM pg_class AS t
    JOIN pg_depend AS d ON d.refobjid = t.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:names)
      AND CASE WHEN s.relkind = 'S' THEN NOT has_sequence_privilege(s.oid, 'USAGE') ELSE false END
    ORDER BY 1
    """
)


def _refuse_missing_grants(conn: Connection, url: str) -> None:
    """Raise :class:`NoPrivilege` naming the tables (and key sequences) the role may not read and write.

    A role given some of Schedy's tables but not all (say, ``alembic_version`` only) would otherwise start, then
    fail the first request that touches the others; it is refused at start instead, with the grant to run.
    """
    from schedy.server.store.tables import metadata  # the tables of this version's schema

    names = sorted({*metadata.tables, "alembic_version"})
    missing = [row[0] for row in conn.execute(_MISSING_GRANTS, {"names": names, "privileges": _TABLE_PRIVILEGES})]
    if not missing:
        return
    role = _role(url)
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    raise NoPrivilege(
        f"The role {role} may not read and write all of Schedy's tables in the database {shown_url(url)} "
        f"(not {shown}): connect as the role that created them, make {role} their owner, or grant it "
        f"{_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public and USAGE ON ALL SEQUENCES IN SCHEMA public; "
        "nothing was changed."
    )
