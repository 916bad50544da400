"""Telling the database's own troubles (a full disk, a restart, a lost connection) from other failures.

The API answers these instead of an internal error, each with what the
client may do:

* **out of space** — SQLite's "database or disk is full", PostgreSQL's
  ``disk_full`` (SQLSTATE 53100): the statement failed and its transaction
  was rolled back, nothing was written;
* **unreachable** — no connection could be had (the database is down or
  restarting, refuses connections: ``cannot_connect_now`` 57P03, has too
  many: ``too_many_connections`` 53300): nothing was sent;
* **read-only** — SQLite's "attempt to write a readonly database" (a file
  or disk this process may not write), PostgreSQL's
  ``read_only_sql_transaction`` (25006: a standby): nothing was written;
* **file lost** — the SQLite file was deleted or replaced under the running
  service (:mod:`schedy.server.store.sqlite_file`): nothing was done, and
  nothing will be until a restart;
* **connection lost** — the connection broke while a statement was on it
  (a reset, or PostgreSQL ending the session as it shuts down:
  ``admin_shutdown`` 57P01, ``crash_shutdown`` 57P02): the statement may
  or may not have been applied (a commit may be on disk with its answer
  lost, as in an immediate shutdown).

All but the last are safe to send again as they are; the last only for a
request that is safe to repeat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, OperationalError

__all__ = [
    "DatabaseFileLost",
    "DatabaseUnreachable",
    "connection_lost",
    "file_lost",
    "lost_reason",
    "out_of_space",
    "read_only",
    "unreachable",
]

#: SQLite's primary result code for "database or disk is full".
SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE for ``disk_full``.
DISK_FULL = "53100"
#: SQLite's primary result code for "attempt to write a readonly database".
SQLITE_READONLY = 8
#: PostgreSQL's SQLSTATE for ``read_only_sql_transaction`` (a standby, ``default_transaction_read_only``).
READ_ONLY_TRANSACTION = "25006"
#: SQLSTATEs of a connection PostgreSQL refused as it was opened: nothing was sent on it.
REFUSED = frozenset(("57P03", "53300"))
#: SQLSTATEs of a session PostgreSQL ended (shutting down): what it was doing may have been committed.
ENDED = frozenset(("57P01", "57P02"))


class DatabaseUnreachable(Exception):
    """No connection to the database could be had: nothing was sent to it."""


class DatabaseFileLost(Exception):
    """The SQLite file was deleted or replaced under the service: nothing was done; the message says what to do."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it wraps: SQLAlchemy's ``orig``, then causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else (current.__cause__ or current.__context__)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE a PostgreSQL driver's error carries (asyncpg and psycopg: ``sqlstate``)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the database's disk is full.

    Example:
        >>> import sqlite3
        >>> out_of_space(sqlite3.OperationalError("database or disk is full")), out_of_space(ValueError("x"))
        (True, False)

    """
    return _says(exc, SQLITE_FULL, "database or disk is full", DISK_FULL)


def read_only(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the database may not be written by this service.

    Example:
        >>> import sqlite3
        >>> read_only(sqlite3.OperationalError("attempt to write a readonly database")), read_only(ValueError("x"))
        (True, False)

    """
    return _says(exc, SQLITE_READONLY, "readonly database", READ_ONLY_TRANSACTION)


def _says(exc: BaseException, sqlite_code: int, sqlite_text: str, sqlstate: str) -> bool:
    """Whether ``exc`` or an error it wraps is SQLite's ``sqlite_code`` (or its text) or PostgreSQL's ``sqlstate``."""
    for current in _chain(exc):
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if (code is not None and code & 0xFF == sqlite_code) or sqlite_text in str(current):
                return True
        if _sqlstate(current) == sqlstate:
            return True
    return False


def file_lost(exc: BaseException) -> DatabaseFileLost | None:
    """The :class:`DatabaseFileLost` ``exc`` is or wraps, if any."""
    for current in _chain(exc):
        if isinstance(current, DatabaseFileLost):
            return current
    return None


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be used at all, so nothing of the request was done."""
    for current in _chain(exc):
        if isinstance(current, DatabaseUnreachable) or _sqlstate(current) in REFUSED:
            return True
        # SQLAlchemy's error for a connection it could not open has no statement.
        if isinstance(current, OperationalError) and current.statement is None:
            return True
    return False


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection broke during a statement (which may or may not have been applied)."""
    for current in _chain(exc):
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = _sqlstate(current)
        if state is not None and (state.startswith("08") or state in ENDED):  # 08: connection_exception
            return True
        if type(current).__module__.startswith("asyncpg"):
            name, text = type(current).__name__, str(current)
            if name == "InterfaceError" and ("connection is closed" in text or "connection was closed" in text):
                return True
            if _farewell_pending(current):
                return True
    return False


def _farewell_pending(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncpg's "cannot switch to state …; another operation is in progress".

    A connection whose server's farewell (57P01: shutting down) arrived between two statements:
    asyncpg's protocol is still consuming it when the next statement starts.
    """
    return (
        type(exc).__module__.startswith("asyncpg")
        and type(exc).__name__ == "InternalClientError"
        and "another operation" in str(exc)
    )


def lost_reason(exc: BaseException) -> str:
    """Why a connection :func:`connection_lost` says broke, in an operator's words, for the log.

    Without the driver's internals (asyncpg's protocol states), which say nothing to an operator and
    belong at DEBUG.

    Example:
        >>> lost_reason(ConnectionResetError("Connection reset by peer"))
        'the connection was closed: a database restart, or a network cut'

    """
    for current in _chain(exc):
        state = _sqlstate(current)
        if state == "57P02":
            return "the database crashed and ended its sessions"
        if state == "57P01" or _farewell_pending(current):
            return "the database ended the session: it is restarting or shutting down"
    return "the connection was closed: a database restart, or a network cut"
