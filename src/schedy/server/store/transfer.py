"""Copy every row of one Schedy database into another, empty one (``schedy database copy``).

What a team needs when it outgrows the embedded SQLite file (several
service processes or hosts want PostgreSQL), and the other way round for a
backup or a laptop copy: users, password hashes and API tokens (so every
worker's token and every dashboard session keeps working: the session
signing secret is copied too), experiments with their options and random
state, every job with its id, version (ETag) and times, the reports, the
attempts, the notes and the artifacts' rows (the files themselves stay in
the service's artifact store, which the database does not hold).

* **One snapshot.** The source is read in one read-only transaction, so
  the copy is a consistent picture even if a service is still writing (what
  it writes afterwards is not in the copy: stop it first). An artifact file
  that service deletes while the files are copied (its job was deleted
  after the snapshot) is not copied, and neither is its row.
* **All or nothing.** The target is written in one transaction: a failure
  leaves it as empty as it was.
* **Keys kept.** Rows keep their primary keys (jobs are found by them, and
  reports, attempts and notes point at them); on PostgreSQL each table's
  sequence is then moved past the largest key copied, so that the next job
  or report the service inserts does not collide with a copied one.
* **Bounded memory.** Rows are read and written in batches of
  :data:`BATCH`: on PostgreSQL through a server-side cursor; SQLite's
  cursor steps through its rows as they are fetched. Into PostgreSQL they
  go by ``COPY … FROM STDIN``, into SQLite by batched INSERTs. Measured
  (100k jobs and 1M reports, 2 cores): SQLite to PostgreSQL 16 s (31 s with
  batched INSERTs), PostgreSQL to SQLite 13 s, 74–147 MiB resident.

Both databases are at this version's schema for the copy: the target
is found empty first (:func:`refuse_filled`, read without writing, then
again in the copy's transaction), and only then brought to it
(:func:`schedy.server.store.migrate.upgrade_within`), in the copy's own
transaction, so a refused or failed copy leaves its schema as it was too;
the source is never written, and one at an older schema is copied from an
upgraded copy (``schedy database copy``, :mod:`schedy.cli.database`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import DatabaseError
from sqlalchemy import Connection, Integer, Result, Table, delete, func, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from schedy.server.store import Store, migrate
from schedy.server.store import artifacts as store_artifacts
from schedy.server.store.tables import artifacts, installation, login_failures, metadata

__all__ = [
    "BATCH",
    "LEFT_OUT",
    "CopyFailed",
    "TargetNotEmpty",
    "copy_rows",
    "listed_now",
    "refuse_filled",
    "sqlite_backup",
]

#: Rows read and inserted at a time.
BATCH = 2000

#: The key of :func:`copy_rows`'s answer that counts the artifact rows left out (their files were deleted).
LEFT_OUT = "artifacts left out"

# Per-installation values and login throttling counters: replaced in the target, not a reason to refuse it.
_REPLACED = (installation.name, login_failures.name)


def sqlite_backup(source: Store, path: Path) -> None:
    """Copy the SQLite database of ``source`` whole into a new file ``path``, as one snapshot (SQLite's backup).

    Raises:
        sqlite3.Error: the copy could not be written.
        OSError: likewise.

    """
    with source.snapshot() as conn, contextlib.closing(sqlite3.connect(path)) as into:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)  # noqa: S101 - a SQLite store's driver connection
        raw.backup(into)


class TargetNotEmpty(Exception):
    """The target database already holds users, experiments or jobs (one sentence)."""


class CopyFailed(Exception):
    """The target refused a row (one sentence); nothing was copied."""


def copy_rows(
    source: Store,
    target: Store,
    progress: Callable[[str, int], None] | None = None,
    blobs: Callable[[list[str]], Collection[str]] | None = None,
) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; the rows copied per table (and :data:`LEFT_OUT`).

    ``progress(table, rows)`` is called after each table (the first call after the target was found empty).
    ``blobs(keys)``, if given, is called with the blob key of every artifact of the snapshot before any
    row is written (to copy the files to another store: a row never points at a file not copied yet). It
    answers the keys it did not copy because a service deleted their files since the snapshot was taken
    (their artifacts are no longer listed in the source, see :func:`listed_now`): the rows that point at
    them are left out of the target, which never lists an artifact whose file it lacks, and counted under
    :data:`LEFT_OUT`.

    The target's schema is brought to this version's in the same transaction, once it was found empty:
    a copy that is refused or fails leaves the target's schema as it was too.

    Raises:
        TargetNotEmpty: the target holds rows (nothing was written).
        CopyFailed: the target refused a row (its transaction is rolled back: nothing was copied).
        schedy.server.store.migrate.NewerSchema: a newer Schedy migrated the target (nothing was written).
        schedy.server.store.migrate.NoPrivilege: PostgreSQL refused the role the tables (nothing was written).

    """
    copied: dict[str, int] = {}
    with source.snapshot() as src, target.write() as dst:
        _check_empty(dst)
        upgraded = migrate.upgrade_within(dst, target.url)
        gone: list[str] = []
        if blobs is not None:
            gone = sorted(blobs(list(src.execute(select(artifacts.c.blob).order_by(artifacts.c.pk)).scalars())))
        copied[LEFT_OUT] = (
            src.execute(select(func.count()).select_from(artifacts).where(artifacts.c.blob.in_(gone))).scalar_one()
            if gone
            else 0
        )
        for table in (installation, login_failures):
            dst.execute(delete(table))
        for table in metadata.sorted_tables:  # parents before the rows that point at them
            statement = select(table).order_by(*table.primary_key.columns)
            if table is artifacts and gone:  # nothing points at an artifact row: leaving one out is safe
                statement = statement.where(artifacts.c.blob.not_in(gone))
            result = src.execution_options(stream_results=not source.is_sqlite, yield_per=BATCH).execute(statement)
            try:
                count = (_insert if target.is_sqlite else _copy_in)(dst, table, result)
            except (DBAPIError, DatabaseError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise CopyFailed(
                    f"The target refused a row of the table {table.name} ({reason}); nothing was copied."
                ) from None
            copied[table.name] = count
            if progress is not None:
                progress(table.name, count)
        if not target.is_sqlite:
            _move_sequences(dst)
    if upgraded is not None:  # an empty target at an older schema
        migrate.log_upgraded(upgraded)
    return copied


def refuse_filled(url: str) -> None:
    """Raise :class:`TargetNotEmpty` if the database at ``url`` holds users, experiments or jobs.

    Read without changing anything (a SQLite file is opened read-only, keeping its journal mode), at
    whatever schema it has (an older Schedy's too): a copy refused for its target changes nothing of it,
    not even its schema. Call it inside :func:`~schedy.server.store.engine.opening`, on a database that
    exists.

    Raises:
        TargetNotEmpty: the database holds rows.
        schedy.server.store.migrate.NoPrivilege: PostgreSQL refused the role a table.

    """
    with migrate.reading(url) as conn:
        _check_empty(conn)


def listed_now(source: Store, blob: str) -> bool:
    """Whether an artifact of ``source`` lists the file ``blob`` now (read outside any snapshot of a copy).

    A file of the snapshot that is missing from the store whose artifact is no longer listed was deleted
    by a running service since (its job, its experiment or the artifact itself was deleted, or replaced);
    one still listed is not in the store given.
    """
    with source.read() as conn:
        return store_artifacts.attached(conn, blob)


def _insert(conn: Connection, table: Table, result: Result[Any]) -> int:
    """Insert ``result``'s rows into ``table``, :data:`BATCH` at a time; how many."""
    count = 0
    for rows in result.mappings().partitions(BATCH):
        conn.execute(insert(table), [dict(row) for row in rows])
        count += len(rows)
    return count


def _copy_in(conn: Connection, table: Table, result: Result[Any]) -> int:
    """PostgreSQL: stream ``result``'s rows into ``table`` with ``COPY … FROM STDIN``; how many.

    In the same transaction; a quarter of the client CPU of batched INSERTs (see the module docstring).
    """
    columns = [column.name for column in table.columns]
    raw = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
    count = 0
    quoted = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for rows in result.partitions(BATCH):
            for row in rows:
                copy.write_row(row)
            count += len(rows)
    return count


def _check_empty(conn: Connection) -> None:
    """Raise :class:`TargetNotEmpty` if any of Schedy's tables the database has holds rows (at any schema)."""
    present = set(inspect(conn).get_table_names())
    held = {
        table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in metadata.sorted_tables
        if table.name not in _REPLACED and table.name in present
    }
    full = {name: n for name, n in held.items() if n}
    if full:
        what = ", ".join(f"{name} ({n:,})" for name, n in full.items())
        raise TargetNotEmpty(
            f"The target database is not empty (it holds rows in {what}): copy into a new, empty database, and start "
            "no service on it before the copy (its first start creates a user)."
        )


def _move_sequences(conn: Connection) -> None:
    """PostgreSQL: move each serial key's sequence past the largest key copied."""
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer) or keys[0].autoincrement is False:
            continue
        key = keys[0]
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": key.name}
        ).scalar_one()
        largest = conn.execute(select(func.max(key))).scalar_one()
        if sequence is not None and largest is not None:
            conn.execute(text("SELECT setval(:sequence, :value, true)"), {"sequence": sequence, "value": largest})
