"""Telling a database that has no room left from other failures, whatever the driver.

A full disk under SQLite's file, or PostgreSQL's ``disk_full`` (SQLSTATE
53100), fails the statement and rolls its transaction back: nothing of the
request was written. The API answers such a failure 503 ("try again once
there is room") instead of an internal error, so clients retry and nothing
is lost.
"""

from __future__ import annotations

import sqlite3

__all__ = ["out_of_space"]

#: SQLite's primary result code for "database or disk is full".
SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE for ``disk_full``.
DISK_FULL = "53100"


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps: SQLAlchemy's ``orig``, a cause) says the database's disk is full.

    Example:
        >>> import sqlite3
        >>> out_of_space(sqlite3.OperationalError("database or disk is full")), out_of_space(ValueError("x"))
        (True, False)

    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if code is not None and code & 0xFF == SQLITE_FULL:
                return True
            if "database or disk is full" in str(current):
                return True
        if getattr(current, "sqlstate", None) == DISK_FULL or getattr(current, "pgcode", None) == DISK_FULL:
            return True
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else (current.__cause__ or current.__context__)
    return False
