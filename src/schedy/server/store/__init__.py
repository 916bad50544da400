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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from schedy.server.store.engine import is_sqlite, make_engine


class Store:
    """Connections and transactions on one database."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self._write_engine = make_engine(url, write=True, pool_size=pool_size)
        self._read_engine = make_engine(url, write=False, pool_size=pool_size) if self.is_sqlite else self._write_engine
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        # SQLite only: the connection of every write transaction, used under _write_lock.
        self._writer: Connection | None = None

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.is_sqlite else "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on exit, rolled back on error."""
        if self._write_lock is None:
            with self._write_engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            writer = self._writer
            if writer is None or writer.closed:
                writer = self._writer = self._write_engine.connect()
            # Re-connects by itself after an invalidation (e.g. a disk error).
            with writer.begin():
                yield writer

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
            with self._write_lock:
                writer = self._writer
                if writer is None or writer.closed:
                    writer = self._writer = self._write_engine.connect()
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
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both databases)."""
        with self._read_engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()
