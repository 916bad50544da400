"""Engines for SQLite and PostgreSQL, and the database clock.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process
crashes; a power loss may drop the last transactions), and write
transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock
upgrading a read lock. Readers use plain deferred transactions and never
block writers.

A new SQLite file is created readable by its owner only (0600; SQLite gives
its ``-wal`` and ``-shm`` files the same mode): it holds password and token
hashes and the secret that signs session tokens.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Float, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# How long a SQLite connection waits for another process's write lock.
SQLITE_BUSY_TIMEOUT_MS = 60_000
# Page cache of a process's SQLite writer connection (SQLite's default is 2 MiB).
SQLITE_WRITER_CACHE_KIB = 64 * 1024
# Key of a SQLite connection's pool info: true while Store.write holds a transaction it began itself.
RAW_TRANSACTION = "schedy_raw_transaction"


class db_now(FunctionElement[float]):
    """The database clock, seconds since the epoch, with sub-second precision."""

    type = Float()
    inherit_cache = True


@compiles(db_now, "sqlite")
def _now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(db_now, "postgresql")
def _now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "extract(epoch from clock_timestamp())::double precision"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgres+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


#: What ``schedy server --database`` takes, for the sentences that refuse a URL.
URL_EXAMPLES = "sqlite:////absolute/path/schedy.db or postgresql://user:password@host:5432/database"
# The URL schemes Schedy opens: SQLite through sqlite3, PostgreSQL through psycopg 3 (see normalise_url).
_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")


class DatabaseUnavailable(Exception):
    """The database named by a URL cannot be used: a malformed URL, an unsupported kind, or no connection.

    Its message is one sentence saying what to do (the password left out).
    """


def check_url(url: str) -> str:
    """``url``, once it parses and names a SQLite or PostgreSQL database.

    Raises:
        DatabaseUnavailable: a URL that does not parse, another kind of database, a driver Schedy does not
            use (``postgresql+asyncpg://``, ``postgresql+psycopg2://``…), or a SQLite database in memory.

    A SQLite path starting with ``~`` is returned with the home directory in its place.

    Example:
        >>> check_url("sqlite:////tmp/schedy.db")
        'sqlite:////tmp/schedy.db'

    """
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(f"{url!r} is not a database URL: give {URL_EXAMPLES}.") from None
    except ValueError:  # SQLAlchemy reads the port as an int: postgresql://host:5432x/db
        masked = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
        raise DatabaseUnavailable(
            f"{masked!r} is not a database URL: its port must be a number (host:5432); give {URL_EXAMPLES}."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise DatabaseUnavailable(
            f"Schedy keeps its data in SQLite or PostgreSQL, not {backend} ({shown_url(url)}): give {URL_EXAMPLES}."
        )
    if parsed.drivername not in _DRIVERS:
        driver = parsed.get_driver_name()
        if backend == "sqlite":
            raise DatabaseUnavailable(
                f"Schedy opens SQLite files with Python's sqlite3, not {driver} ({shown_url(url)}): give "
                f"{shown_url(parsed.set(drivername='sqlite').render_as_string(hide_password=False))}."
            )
        raise DatabaseUnavailable(
            f"Schedy connects to PostgreSQL with psycopg 3, not {driver} ({shown_url(url)}): give "
            f"{shown_url(parsed.set(drivername='postgresql').render_as_string(hide_password=False))} "
            "(or postgresql+psycopg://…)."
        )
    if backend == "sqlite" and _in_memory(parsed):
        raise DatabaseUnavailable(
            f"Schedy needs a SQLite file, not an in-memory database ({url}): give sqlite:////absolute/path/schedy.db."
        )
    if backend == "sqlite" and not _is_uri(parsed) and str(parsed.database).startswith("~"):
        # As `schedy server --help` shows the default (sqlite:///~/.schedy/schedy.db): the home directory,
        # not a directory named "~" under the current one.
        return parsed.set(database=os.path.expanduser(str(parsed.database))).render_as_string(hide_password=False)
    return url


def _in_memory(parsed: URL) -> bool:
    """Whether a SQLite URL names an in-memory database (``sqlite://``, ``:memory:``, a ``mode=memory`` URI)."""
    database = parsed.database
    if database in (None, "", ":memory:"):
        return True
    return _is_uri(parsed) and (str(database).startswith("file::memory:") or parsed.query.get("mode") == "memory")


def _is_uri(parsed: URL) -> bool:
    """Whether a SQLite URL's database is a ``file:`` URI (``?uri=true``)."""
    return str(parsed.query.get("uri", "")).lower() in ("true", "1")


def shown_url(url: str) -> str:
    """``url`` with its password masked (a ``password`` query parameter too), for messages.

    Example:
        >>> shown_url("postgresql://schedy:secret@/schedy?host=/run/postgresql")
        'postgresql://schedy:***@/schedy?host=/run/postgresql'

    """
    parsed = make_url(url)
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [
        f"{key}={'***' if key == 'password' else value}"
        for key, values in parsed.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]
    return shown + ("?" + "&".join(pairs) if pairs else "")


@contextlib.contextmanager
def opening(url: str) -> Iterator[None]:
    """Turn a failure to connect to (or to open) the database at ``url`` into :class:`DatabaseUnavailable`.

    For the first connection of a command (the service's start, ``schedy user``), where the driver's
    traceback would bury its one useful line.
    """
    from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError, ProgrammingError

    try:
        yield
    except ProgrammingError as exc:
        # Raised while connecting (no statement yet): libpq refused the URL's options, e.g. ?sslmod=require for
        # ?sslmode=require. A statement's ProgrammingError (a migration's bug) is shown whole.
        if exc.statement is not None:
            raise
        reason = str(exc.orig or exc).strip().splitlines()[0].rstrip(".")
        raise DatabaseUnavailable(
            f"Cannot open the database {shown_url(url)} ({reason}): check the options after '?' in the URL, "
            "libpq's connection parameters (such as sslmode, host, port, connect_timeout)."
        ) from None
    except OSError as exc:  # creating a new SQLite file (the driver's own failures are OperationalError)
        path = make_url(url).database if is_sqlite(url) else None
        if not (path and exc.filename and str(exc.filename).startswith(str(Path(path).expanduser()))):
            raise
        raise DatabaseUnavailable(
            f"Cannot create the database file {exc.filename} ({exc.strerror}): is its directory writable?"
        ) from None
    except (OperationalError, InterfaceError, DatabaseError) as exc:
        # DatabaseError itself, not its other subclasses (a constraint or a statement failing in a migration is a
        # bug to show whole): SQLite's "file is not a database".
        if not isinstance(exc, (OperationalError, InterfaceError)) and type(exc) is not DatabaseError:
            raise
        lines = [line.strip() for line in str(getattr(exc, "orig", None) or exc).splitlines() if line.strip()]
        reason = "; ".join(line.rstrip(".") for line in lines[:2])
        advice = (
            "is the directory writable, and the file a SQLite database?"
            if is_sqlite(url)
            else "is PostgreSQL running there, and do the user, password and database exist?"
        )
        raise DatabaseUnavailable(f"Cannot open the database {shown_url(url)} ({reason}): {advice}") from None


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file a plain SQLite URL names (``None`` for PostgreSQL, a ``file:`` URI or memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or _is_uri(parsed) or _in_memory(parsed):
        return None
    return Path(str(parsed.database)).expanduser()


def check_writable(url: str) -> None:
    """Refuse a SQLite file, or its directory, that this user may not write (the service writes both).

    SQLite opens such a file read-only without a word, and then fails every write; checked at start
    instead, so the service says it in one sentence rather than answering every login 500.

    Raises:
        DatabaseUnavailable: the file exists and is not writable for this user, or its directory is not
            (where SQLite keeps its ``-wal`` and ``-shm`` files).

    """
    path = sqlite_path(url)
    if path is None or not path.exists():
        return  # a new file: creating it says what is wrong (see opening)
    who = _user()
    if not os.access(path, os.W_OK):
        raise DatabaseUnavailable(
            f"The database file {path} is read-only for this user ({who}): make it writable (chmod u+w, or chown "
            "it to this user), or run the service as the user who owns it."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DatabaseUnavailable(
            f"The directory of the database file {path} is read-only for this user ({who}), and SQLite writes "
            "its -wal and -shm files there: make it writable, or run the service as the user who owns it."
        )


def _user() -> str:
    """The user running this process, as ``name`` or ``uid N``."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "this user"


def _is_read_only(parsed: URL) -> bool:
    """Whether a SQLite URL opens its file read-only (a ``file:`` URI with ``mode=ro`` or ``immutable=1``)."""
    return _is_uri(parsed) and (parsed.query.get("mode") == "ro" or parsed.query.get("immutable") == "1")


def read_only_url(url: str) -> str:
    """The URL that opens the SQLite file of ``url`` read-only, as it is: never written, its journal mode kept.

    For a database that must not change (the source of ``schedy database copy``). ``mode=ro`` reads what a
    service writing it meanwhile committed (its write-ahead log too); a file SQLite cannot open so (a WAL
    database in a directory this process may not write, which has no ``-shm`` file) is opened
    ``immutable=1``, unless it has a write-ahead log whose transactions that would leave out. A URL that is
    already a ``file:`` URI (``?uri=true``) is the caller's choice, kept; a PostgreSQL URL too.

    Example:
        >>> read_only_url("sqlite:////nonexistent/schedy.db")
        'sqlite:///file%3A/nonexistent/schedy.db?mode=ro&uri=true'

    """
    from urllib.parse import quote

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or _is_uri(parsed) or _in_memory(parsed):
        return url
    path = Path(str(parsed.database)).expanduser().absolute()
    uri = f"file:{quote(str(path))}"

    def with_query(query: dict[str, str]) -> str:
        return URL.create("sqlite", database=uri, query={**query, "uri": "true"}).render_as_string()

    try:
        probe = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            probe.close()
    except sqlite3.OperationalError as exc:
        wal = path.with_name(path.name + "-wal")
        message = str(exc).lower()
        cannot_share = "readonly" in message or "unable to open" in message
        if path.is_file() and cannot_share and not (wal.exists() and wal.stat().st_size):
            return with_query({"immutable": "1"})
    except sqlite3.Error:
        pass  # not a database: opening it through the engine says so in a sentence (see opening)
    return with_query({"mode": "ro"})


def _create_private(path: Path) -> None:
    """Create an empty SQLite file with mode 0600 unless it exists (SQLite would use the umask, often 0644)."""
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps the mode its owner gave it; SQLite reports a missing directory
    with contextlib.suppress(FileExistsError):  # created meanwhile by another process
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _enable_wal(cur: sqlite3.Cursor) -> None:
    """Switch the file to WAL mode, waiting for other processes that do the same.

    The mode is stored in the file, so only the first connection to a new
    file changes it. That change needs the file to itself, and SQLite answers
    "database is locked" at once, without its busy handler, while another
    process opens the same new file: retry within the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            if cur.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
            raise sqlite3.OperationalError("database is locked (journal mode not changed)")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def make_engine(url: str, *, write: bool, pool_size: int = 8) -> Engine:
    """Create an engine; on SQLite, ``write`` selects ``BEGIN IMMEDIATE``."""
    url = normalise_url(url)
    if not is_sqlite(url):
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
    parsed = make_url(url)
    database = parsed.database
    if database in (None, "", ":memory:"):
        raise ValueError("Schedy needs a SQLite file, not an in-memory database: use sqlite:///path/to/file.db.")
    read_only = _is_read_only(parsed)
    if not _is_uri(parsed):
        _create_private(Path(database))
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not read_only:  # a file opened read-only keeps its journal mode (see read_only_url)
            _enable_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        if write:
            # The one writer of the process (see Store) keeps the pages of the
            # indexes that every new job goes into: claims in a million-job
            # experiment then cost what they cost in a small one.
            cur.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
        cur.close()

    begin = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight on the DB-API connection: this runs before every transaction,
        # except inside one Store.write began itself.
        fairy = conn.connection
        if not fairy.info.get(RAW_TRANSACTION):
            fairy.dbapi_connection.execute(begin)

    return engine
