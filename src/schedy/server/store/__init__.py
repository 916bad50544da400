"""The store: every SQL statement of the service, and its transactions.

Contract:

* :class:`Store` opens transactions (:meth:`Store.write`,
  :meth:`Store.read`); every other store function receives the open
  connection and never commits, so a use case is one transaction.
* Write transactions are serialised per experiment where correctness needs
  it: a claim locks the job it takes (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; SQLite's single writer, entered with ``BEGIN IMMEDIATE``), and
  a scheduler that needs the population first locks its experiment row.
* Times come from the database clock (``db_now()``), never from the
  process, so several service processes on several hosts agree.
* Thread safety: a :class:`Store` is shared by all request threads of a
  process; each transaction uses its own pooled connection. On SQLite, write
  transactions of one process also take an in-process lock, so threads queue
  in Python instead of polling SQLite's busy handler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

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

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.is_sqlite else "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on exit, rolled back on error."""
        with self._write_lock or nullcontext(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both databases)."""
        with self._read_engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()
