"""PostgreSQL on the event loop: the hot paths' statements through asyncpg, without the thread pool.

On PostgreSQL a request of the worker loop (a claim, a job update) waits
for one or two round trips. Run with psycopg in the thread pool, each one
also paid a hand-over to a thread and back and psycopg's Python per
statement: with one service process that cost several times the
database's own work (docs/benchmarks.md). Here the same statements (written
with SQLAlchemy Core, compiled once for asyncpg's dialect, see
:mod:`schedy.server.store.compiled`) run on an asyncpg connection from a
pool of this process, awaited on the event loop: a request waiting on the
database holds no thread, and others are served meanwhile.

Every statement is sent on a connection outside any transaction (each one
is atomic alone, as :meth:`schedy.server.store.Store.autocommit` does on
the synchronous side); asyncpg prepares each statement once per
connection. Database errors come out as SQLAlchemy's exception classes
(e.g. :class:`sqlalchemy.exc.IntegrityError`), as they do on the
synchronous side.

The pool is created on first use, on the loop that uses it (a service
process has one), and closed by :meth:`AsyncDatabase.aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql import ClauseElement

from schedy.server.store.compiled import Compiled, compiled_for
from schedy.server.store.failures import DatabaseUnreachable

__all__ = ["AsyncConnection", "AsyncDatabase", "asyncpg_dsn"]

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg takes for a SQLAlchemy PostgreSQL URL (any driver named in it)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _translate(exc: Exception, statement: Compiled, params: Any) -> Exception:
    """A database error as the SQLAlchemy exception the synchronous side would raise."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(statement.sql, params, exc)
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        return OperationalError(statement.sql, params, exc)
    if isinstance(exc, asyncpg.PostgresError):
        return DBAPIError(statement.sql, params, exc)
    return exc


async def _keep_session(conn: Any) -> None:
    """What a connection needs when it goes back to the pool: nothing.

    asyncpg's default resets the session (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``, advisory
    locks) in one more round trip per use. The hot paths change no session state (no ``SET``, no
    ``LISTEN``, no cursor, no lock outside a statement); an open transaction is still rolled back
    by the pool before this is called.
    """


class AsyncConnection:
    """One pooled asyncpg connection, lent for the duration of a use case."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch_one(
        self, build: Callable[..., ClauseElement], args: tuple[Any, ...], params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run ``build(*args)`` (compiled once) with ``params``; its first row, if any."""
        statement = compiled_for(_DIALECT, build, *args)
        values = statement.parameters(params)
        try:
            row = await self._conn.fetchrow(statement.sql, *values)
        except Exception as exc:
            raise _translate(exc, statement, values) from exc
        return None if row is None else tuple(row)

    async def fetch_all(
        self, build: Callable[..., ClauseElement], args: tuple[Any, ...], params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run ``build(*args)`` (compiled once) with ``params``; all its rows."""
        statement = compiled_for(_DIALECT, build, *args)
        values = statement.parameters(params)
        try:
            rows = await self._conn.fetch(statement.sql, *values)
        except Exception as exc:
            raise _translate(exc, statement, values) from exc
        return [tuple(row) for row in rows]

    async def run(self, build: Callable[..., ClauseElement], args: tuple[Any, ...], params: Mapping[str, Any]) -> int:
        """Run ``build(*args)`` (compiled once) with ``params``; how many rows it changed."""
        statement = compiled_for(_DIALECT, build, *args)
        values = statement.parameters(params)
        try:
            status: str = await self._conn.execute(statement.sql, *values)
        except Exception as exc:
            raise _translate(exc, statement, values) from exc
        # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


class AsyncDatabase:
    """A pool of asyncpg connections to one PostgreSQL database, for one event loop."""

    def __init__(self, url: str, *, max_size: int = 16) -> None:
        self._dsn = asyncpg_dsn(url)
        self._max_size = max_size
        self._pool: Any = None
        self._creating: asyncio.Lock | None = None

    async def _get_pool(self) -> Any:
        if self._pool is None:
            if self._creating is None:
                self._creating = asyncio.Lock()
            async with self._creating:
                if self._pool is None:
                    # No floor: connections open when requests need them. With one, asyncpg restores it
                    # in the background and logs a traceback a second while the database is down.
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._max_size,
                        max_inactive_connection_lifetime=300.0,
                        reset=_keep_session,
                    )
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection until the block ends (each statement is a transaction by itself)."""
        try:
            pool = self._pool if self._pool is not None else await self._get_pool()
            conn = await pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnreachable(f"PostgreSQL could not be reached ({exc}).") from exc
        try:
            yield AsyncConnection(conn)
        finally:
            await pool.release(conn)

    async def aclose(self) -> None:
        """Close the pool's connections (waits for those lent out to come back, at most 10 s)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except TimeoutError:
                pool.terminate()

    def terminate(self) -> None:
        """Close every connection at once, from any thread (at exit, when the loop is gone)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):  # its loop may be closed already: the sockets go with the process
                pool.terminate()
