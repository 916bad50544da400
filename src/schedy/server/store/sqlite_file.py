"""Noticing that the SQLite file was deleted or replaced under a running service.

A process that has a SQLite file open keeps writing to it after ``rm
schedy.db`` (or ``mv backup.db schedy.db``, or a cleaner of old files): the
inode lives on while it is open, every write is acknowledged, and all of it
is gone at the next restart, which finds no file (or another one) at the
path. :class:`FileWatch` remembers the file's identity (device and inode)
and compares it with what the path names now, at most every
:data:`CHECK_EVERY` seconds of writes (the lease sweep writes every second).
Once they differ the store refuses every transaction with
:class:`~schedy.server.store.failures.DatabaseFileLost` (a 503 with one
sentence) until the service is restarted, and first copies what it still
holds (SQLite's backup, from the open connection, write-ahead log included)
next to the path, so nothing it acknowledged is lost.

A file changed in place (``sqlite3 schedy.db .restore``, ``VACUUM``) keeps
its inode and is not a replacement. ``schedy database copy`` never writes
its source, and its documented use (a compact copy moved in place of the
file) is done with the service stopped.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from schedy.server.store.failures import DatabaseFileLost

__all__ = ["CHECK_EVERY", "FileWatch"]

#: Seconds between two comparisons of the file's identity (each is one ``stat``).
CHECK_EVERY = 0.25


class FileWatch:
    """The identity of one SQLite file, compared with what its path names now.

    Args:
        path: the file's path, as the engine opened it.

    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._checked_at = -CHECK_EVERY
        #: Once the file is found gone or replaced: the sentence every transaction is refused with.
        self.lost: str | None = None
        self.remember()

    def remember(self) -> None:
        """Take the path's current file as the one the store opened (if it exists yet)."""
        with contextlib.suppress(OSError):
            found = os.stat(self.path)
            self._identity = (found.st_dev, found.st_ino)

    def refuse_if_lost(self) -> None:
        """Raise :class:`DatabaseFileLost` if the file was found gone or replaced (no system call)."""
        if self.lost is not None:
            raise DatabaseFileLost(self.lost)

    def check(self, connection: Any | None) -> None:
        """Compare the file with the path's (at most every :data:`CHECK_EVERY` s); refuse if it changed.

        ``connection``: the store's open DB-API connection to the file, from which what it holds is
        copied the first time the file is found lost (``None``: no copy).

        Raises:
            DatabaseFileLost: the path names no file, or another file, than the one the store opened.

        """
        self.refuse_if_lost()
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = now
        if self._identity is None:
            self.remember()
            return
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            what = "deleted"
        except OSError:
            return  # cannot tell (a directory made unreadable): the writes themselves will say
        else:
            if (found.st_dev, found.st_ino) == self._identity:
                return
            what = "replaced by another file"
        saved = self._rescue(connection)
        self.lost = (
            f"The database file {self.path} was {what} while the service ran, so the service refuses every "
            f"request that uses the database (503) until it is restarted; {saved}"
        )
        raise DatabaseFileLost(self.lost)  # logged by whoever meets it (the API's error mapping: once a minute)

    def _rescue(self, connection: Any | None) -> str:
        """Copy what the open file holds next to the path; the sentence's end saying where, or why not."""
        # The process id: each process of a service (--workers N) copies what it holds, the same data.
        where = self.path.with_name(f"{self.path.name}.rescued-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        if connection is None:
            return "what it wrote before is only in the file it had open, which a restart forgets."
        created = False
        try:
            os.close(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # private, as the database
            created = True
            target = sqlite3.connect(where)
            try:
                connection.backup(target)
            finally:
                target.close()
        except (OSError, sqlite3.Error) as exc:
            if created:
                with contextlib.suppress(OSError):
                    where.unlink()  # half a copy would mislead
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return (
                f"copying what it held to {where} failed ({reason}), so what it wrote before is only in the file "
                "it had open, which a restart forgets."
            )
        return (
            f"everything it held was copied to {where}: to keep it, stop the service, move that file to "
            f"{self.path} (with no {self.path.name}-wal or {self.path.name}-shm beside it) and start it again."
        )
