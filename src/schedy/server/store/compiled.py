"""Hot-path statements: compiled once per dialect, run on the DB-API cursor.

The claim, the job update and the experiment lookup run on every request of
a worker loop. Through :meth:`sqlalchemy.engine.Connection.execute` each one
costs 60–150 µs of Python (parameter processing, execution context, result
proxy, ``Row`` objects), several times what SQLite takes to run it. Here the
statement is still written with SQLAlchemy Core, compiled once for the
connection's dialect (its own spelling of locks, clocks and casts), then
executed directly on the DB-API cursor of the caller's connection, inside
the caller's transaction. Everything else in the store
keeps using SQLAlchemy as usual.

Database errors are translated into SQLAlchemy's exception classes (e.g.
:class:`sqlalchemy.exc.IntegrityError`), so callers catch the same
exceptions whichever way a statement ran.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Compiled", "compiled", "compiled_for", "fetch_all", "fetch_one", "run"]


class Compiled:
    """One statement's SQL text for one dialect, and the values of its own literals."""

    __slots__ = ("defaults", "names", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        done = cast(SQLCompiler, statement.compile(dialect=dialect))
        if any(bind.expanding for bind in done.bind_names):
            # Expanded at execution time: not a fixed SQL text.
            raise ValueError("A compiled hot-path statement cannot use IN (...) with a bound list.")
        self.sql: str = done.string
        # Values SQLAlchemy bound itself (literals such as 'RUNNING', LIMIT 1);
        # the caller's parameters (bindparam() without a value) are added to them.
        self.defaults: dict[str, Any] = {
            name: bind.effective_value for bind, name in done.bind_names.items() if not bind.required
        }
        # Positional paramstyles (SQLite's qmark) take a tuple in this order.
        self.names: tuple[str, ...] | None = tuple(done.positiontup or ()) if done.positional else None

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The DB-API parameters for a call with ``params`` (by bind name)."""
        merged = {**self.defaults, **params}
        if self.names is None:
            return merged
        return tuple(merged[name] for name in self.names)


_cache: dict[tuple[Callable[..., ClauseElement], tuple[Any, ...], str, str], Compiled] = {}


def compiled_for(dialect: Dialect, build: Callable[..., ClauseElement], *args: Any) -> Compiled:
    """``build(*args)`` compiled for ``dialect`` (name and driver: their parameter styles differ), once per process."""
    key = (build, args, dialect.name, dialect.driver)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = Compiled(build(*args), dialect)
    return found


def compiled(conn: Connection, build: Callable[..., ClauseElement], *args: Any) -> Compiled:
    """``build(*args)`` compiled for ``conn``'s dialect, once per process."""
    return compiled_for(conn.dialect, build, *args)


def _execute(conn: Connection, statement: Compiled, params: Mapping[str, Any]) -> Any:
    dbapi_conn = conn.connection.dbapi_connection
    if dbapi_conn is None:  # pragma: no cover - only after an explicit invalidate()
        raise RuntimeError("The connection was invalidated.")
    cursor = dbapi_conn.cursor()
    parameters = statement.parameters(params)
    try:
        cursor.execute(statement.sql, parameters)
    except Exception as exc:
        cursor.close()
        dbapi = conn.dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error):
            raise DBAPIError.instance(
                statement.sql, parameters, exc, dbapi.Error, dialect=conn.dialect, ismulti=False
            ) from exc
        raise
    return cursor


def fetch_one(conn: Connection, statement: Compiled, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run the statement in ``conn``'s transaction; its first row, if any."""
    cursor = _execute(conn, statement, params)
    try:
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


def fetch_all(conn: Connection, statement: Compiled, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run the statement in ``conn``'s transaction; all its rows."""
    cursor = _execute(conn, statement, params)
    try:
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


def run(conn: Connection, statement: Compiled, params: Mapping[str, Any]) -> int:
    """Run the statement in ``conn``'s transaction; the number of rows it changed."""
    cursor = _execute(conn, statement, params)
    try:
        count: int = cursor.rowcount
        return count
    finally:
        cursor.close()
