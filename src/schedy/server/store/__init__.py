"""The store: every SQL statement of the service, and its transactions.

Contract:

* :class:`Store` opens transactions (:meth:`Store.write`,
  :meth:`Store.read`, and :meth:`Store.autocommit` for statements atomic
  alone); every other store function receives the open connection and
  never commits, so a use case is one transaction.
* Write transactions are serialised per experiment where correctness needs
  it: a claim locks the job it takes (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; SQLite's single writer, entered with ``BEGIN IMMEDIATE``), and
  a scheduler that needs the population first locks its experiment row.
* Times come from the database clock (``db_now()``), never from the
  process, so several service processes on several hosts agree.
* Thread safety: a :class:`Store` is shared by all request threads of a
  process; each transaction uses its own pooled connection. On SQLite, write
  transactions of one process also take an in-process lock, so threads queue
  in Python instead of polling SQLite's busy handler, and, as only one of them
  writes at a time, they share one connection that stays open (checking a
  connection out of the pool and back cost more than a claim).
* Where a use case runs: on PostgreSQL the worker loop's requests (a claim
  from the queue or by a scheduler that reads no history, a job update) run
  on the event loop, their statements awaited on an asyncpg connection of
  :attr:`Store.aio` (:mod:`schedy.server.store.aio`): no thread, no
  psycopg. :meth:`Store.run` is the way the HTTP layer runs every other use
  case. On PostgreSQL it runs in the thread pool, so that one request's
  round trips overlap with others' work. On SQLite a *quick*
  use case (a few statements, no network) first runs inline on the event
  loop, where it costs less than a hand-over to a thread, but it never waits
  there: if this process's writer is busy, or another process holds the
  file's write lock, it raises :class:`WouldBlock` before writing anything
  and :meth:`Store.run` runs it again in the thread pool, where waiting is
  harmless. A use case that finds out it is long (e.g. a claim whose
  scheduler reads the history) calls :meth:`Store.leave_loop` to move itself.
* A SQLite file deleted or replaced under the running service is noticed
  (:mod:`schedy.server.store.sqlite_file`): from then on every transaction
  raises :class:`~schedy.server.store.failures.DatabaseFileLost`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from schedy.server.store.engine import RAW_TRANSACTION, SQLITE_BUSY_TIMEOUT_MS, is_sqlite, make_engine, sqlite_path
from schedy.server.store.sqlite_file import FileWatch

if TYPE_CHECKING:
    from schedy.server.store.aio import AsyncDatabase
    from schedy.server.store.claims import ClaimStep

__all__ = ["Store", "WouldBlock"]

T = TypeVar("T")


class WouldBlock(Exception):
    """A use case running inline on the event loop would have to wait: run it in the thread pool instead.

    Raised before the use case wrote anything (its transaction is rolled back).
    """


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy" (another process writes)."""
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    message = str(orig).lower()
    return "locked" in message or "busy" in message


class Store:
    """Connections and transactions on one database."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self._write_engine = make_engine(url, write=True, pool_size=pool_size)
        self._read_engine = make_engine(url, write=False, pool_size=pool_size) if self.is_sqlite else self._write_engine
        path = sqlite_path(url)
        # SQLite: the file, to notice it deleted or replaced under the service (a file: URI is not watched).
        self._file: FileWatch | None = None if path is None else FileWatch(path)
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        # SQLite only: how many threads wait for _write_lock (make_way lets them go first).
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        # SQLite only: the connection of every write transaction, used under _write_lock.
        self._writer: Connection | None = None
        # SQLite only: set while a use case runs inline on the event loop's thread.
        self._inline = threading.local()
        #: PostgreSQL only: the connections of the hot paths on the event loop (opened on first use).
        self.aio: AsyncDatabase | None = None
        if not self.is_sqlite:
            from schedy.server.store.aio import AsyncDatabase

            self.aio = AsyncDatabase(url, max_size=2 * pool_size)

    async def run(self, use_case: Callable[[], T], *, quick: bool = True, limiter: CapacityLimiter | None = None) -> T:
        """Run a use case for the HTTP layer without ever blocking the event loop on a lock.

        ``quick``: the use case is a few short statements. On SQLite it is
        tried inline first (see the module docstring); everything else runs in
        the thread pool, counted against ``limiter`` when given (claims have
        their own, so that claims waiting for their turn never take the
        threads every other request needs), else the pool's default.
        """
        if quick and self._write_lock is not None:
            local = self._inline
            local.active = True
            try:
                return use_case()
            except WouldBlock:
                pass
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            finally:
                local.active = False
        return await to_thread.run_sync(use_case, limiter=limiter)

    def leave_loop(self) -> None:
        """Called by a use case that turns out long: if it runs inline, raise :class:`WouldBlock`.

        Call it before writing anything.
        """
        if getattr(self._inline, "active", False):
            raise WouldBlock

    @property
    def inline(self) -> bool:
        """Whether the calling use case runs inline on the event loop (SQLite only)."""
        return bool(getattr(self._inline, "active", False))

    @contextmanager
    def _writer_connection(self) -> Iterator[Connection]:
        """SQLite: this process's writer connection, under the in-process write lock.

        Inline, the lock is only tried, and the connection waits for no other
        process (busy timeout 0): :class:`WouldBlock` instead. In a thread it
        waits for both, up to the busy timeout.
        """
        lock = self._write_lock
        assert lock is not None  # noqa: S101 - SQLite only
        inline = self.inline
        if not lock.acquire(blocking=False):
            if inline:
                raise WouldBlock
            with self._waiting_lock:
                self._waiting += 1
            try:
                lock.acquire()
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
        try:
            writer = self._writer
            if self._file is not None:
                # Before a new connection, which would create an empty file where the lost one was.
                live = writer is not None and not writer.closed
                self._file.check(writer.connection.dbapi_connection if live and writer is not None else None)
            if writer is None or writer.closed:
                writer = self._writer = self._write_engine.connect()
            # Inline (on the event loop) the writer waits for no other
            # process; in a thread it waits up to the usual busy timeout.
            # The pragma is sent only when the mode changes.
            # (The pool entry's info dict lives as long as the DB-API connection.)
            info = writer.connection.info
            wanted = 0 if inline else SQLITE_BUSY_TIMEOUT_MS
            if info.get("busy_timeout") != wanted:
                raw = writer.connection.dbapi_connection
                assert raw is not None  # noqa: S101 - a connection just checked out is live
                raw.execute(f"PRAGMA busy_timeout={wanted}")
                info["busy_timeout"] = wanted
            yield writer
        finally:
            lock.release()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.is_sqlite else "postgresql"

    def make_way(self, most: float) -> None:
        """Let the writes waiting for this process's write lock go first, waiting at most ``most`` seconds.

        A long loop of short write transactions (a big delete) calls it
        between them: a lock released and at once taken again by the same
        thread is seldom the waiting one's, and on a busy machine every claim
        could wait for the whole loop. SQLite only (a no-op on PostgreSQL,
        whose writers lock rows, not the database); writers of another
        process wait in SQLite's busy handler, which this does not see.
        """
        if self._write_lock is None:
            return
        deadline = time.monotonic() + most
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0.0005)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on exit, rolled back on error."""
        if self._write_lock is None:
            with self._write_engine.begin() as conn:
                yield conn
            return
        with self._writer_connection() as writer:
            # BEGIN and COMMIT straight on the DB-API connection: SQLAlchemy's
            # transaction object around them cost as much as the two statements
            # (a report or a claim is a few statements run the same way, see
            # compiled.py). A statement run through SQLAlchemy inside still
            # works: it "begins" a transaction of SQLAlchemy's own, which the
            # begin event leaves alone (engine.py) and which commits ours.
            fairy = writer.connection  # re-connects by itself after an invalidation (e.g. a disk error)
            raw = fairy.dbapi_connection
            assert raw is not None  # noqa: S101 - a connection just checked out is live
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if self.inline and _is_busy(exc):
                    raise WouldBlock from None
                raise
            fairy.info[RAW_TRANSACTION] = True
            try:
                yield writer
                if writer.in_transaction():
                    writer.commit()
                else:
                    raw.commit()
            except BaseException:
                # Also after a failed COMMIT: the connection must not go on inside this transaction.
                self._roll_back(writer, raw)
                raise
            finally:
                fairy.info[RAW_TRANSACTION] = False

    def _roll_back(self, writer: Connection, raw: Any) -> None:
        """End the writer's failed transaction, SQLAlchemy's and the driver's, whatever state each is in.

        A statement or COMMIT that failed through SQLAlchemy (a full disk fails the COMMIT) leaves its
        transaction attached but inactive: ``in_transaction()`` is false, yet every later statement on
        the connection raises ``PendingRollbackError`` until it is rolled back, which would fail every
        write of this process until a restart. If even the rollback fails, the writer is dropped and the
        next write opens a new one.
        """
        try:
            if writer.get_transaction() is not None:
                writer.rollback()
            if raw.in_transaction:
                raw.rollback()
        except Exception:
            with contextlib.suppress(Exception):
                writer.close()
            self._writer = None

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement is a transaction of its own.

        For a use case whose statements, run with
        :mod:`schedy.server.store.compiled` (straight on the DB-API
        connection), are each atomic on their own and need nothing atomic
        between them (a job update; a claim of a random search on
        PostgreSQL): no BEGIN and COMMIT around them, which on PostgreSQL are
        two round trips. Anything that needs several statements to be atomic
        together uses :meth:`write`.
        """
        if self._write_lock is not None:
            # SQLite: the shared writer, outside any transaction (the driver
            # never begins one by itself: see engine.py).
            with self._writer_connection() as writer:
                yield writer
            return
        with self._write_engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None  # noqa: S101 - a connection just checked out is live
            raw.autocommit = True
            try:
                yield conn
            finally:
                try:
                    raw.autocommit = False
                except Exception:
                    # Never let a connection in autocommit mode back into the
                    # pool, where it would serve transactions.
                    conn.invalidate()

    @contextmanager
    def claim_step(self, *, atomic: bool = False) -> Iterator[ClaimStep]:
        """The statements of a claim, run as this database runs them best (see :mod:`.claims`).

        ``atomic``: the steps must commit together on PostgreSQL too (a budget
        taken and the job it pays for), in one transaction instead of one
        autocommit statement each.
        """
        from schedy.server.store.claims import ClaimStep

        if self._write_lock is not None:
            with self.write() as conn:
                yield ClaimStep(conn, postgresql=False)
        elif atomic:
            with self.write() as conn:
                yield ClaimStep(conn, postgresql=True, transaction=True)
        else:
            with self.autocommit() as conn:
                yield ClaimStep(conn, postgresql=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one snapshot on SQLite, one per statement on PostgreSQL (see :meth:`snapshot`)."""
        if self._file is not None:
            self._file.refuse_if_lost()
        with self._read_engine.begin() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction whose statements all see one snapshot, also on PostgreSQL.

        :meth:`read` on PostgreSQL is READ COMMITTED: each statement sees what
        was committed when it started. Here the transaction is REPEATABLE READ,
        READ ONLY; a SQLite transaction already reads one snapshot.
        """
        if self.is_sqlite:
            with self.read() as conn:
                yield conn
            return
        with self._read_engine.connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn

    async def aclose(self) -> None:
        """Close the event loop's connections (PostgreSQL; call it on the loop that used them)."""
        if self.aio is not None:
            await self.aio.aclose()

    def dispose(self) -> None:
        """Close every pooled connection (the event loop's too, if :meth:`aclose` was not called)."""
        if self.aio is not None:
            self.aio.terminate()
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()
