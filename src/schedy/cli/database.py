"""``schedy database copy TARGET``: every user, token, experiment, job and report into another, empty database.

For moving from the embedded SQLite file to PostgreSQL (several service
processes or hosts), or back (a backup, a laptop copy). The source is
``--database`` (default ``$SCHEDY_DATABASE_URL``, else the data
directory's SQLite file), read as one snapshot and never written (a
SQLite file at an older Schedy's schema is copied from an upgraded copy
in a temporary directory; an older PostgreSQL database must be upgraded
first, by starting the service on it); the target must hold no users,
experiments or jobs, which is checked before anything of it changes, and
is written in one transaction, all or nothing, its schema too (a refused
or failed copy leaves it as it was). Artifact files are not in the database: the new service finds them
if it uses the same artifact store (``--artifacts``, by default
``artifacts/`` in the data directory), or ``--artifacts-to URL`` copies
them into the store it will use.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from schedy.cli.admin import database_arg, database_url, ensure_parent, require_database
from schedy.cli.common import CommandError, UsageError

if TYPE_CHECKING:
    from schedy.server.service.blobs import BlobStore
    from schedy.server.store import Store

__all__ = ["add_parsers", "cmd_copy"]

# Bytes of an artifact file read and written at a time.
_CHUNK = 1 << 20


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``database``."""
    database = subparsers.add_parser("database", help="Copy the service's database into another one.")
    sub = database.add_subparsers(dest="database_command", required=True, metavar="COMMAND")
    copy = sub.add_parser(
        "copy",
        help="Copy every user, token, experiment, job and report into another, empty database "
        "(e.g. from SQLite to PostgreSQL).",
        description=__doc__.split("\n\n", 1)[1].replace("``", "'") if __doc__ else None,
    )
    copy.add_argument("target", metavar="TARGET", help="The database to copy into, e.g. postgresql://user@host/schedy.")
    database_arg(copy)
    copy.add_argument(
        "--artifacts-to",
        metavar="URL",
        help="Also copy the artifact files into this store (a directory or an fsspec URL such as "
        "s3://bucket/schedy), for a service started with --artifacts URL.",
    )
    copy.add_argument(
        "--artifacts-from",
        metavar="URL",
        help="The store the files are in now (default: artifacts/ in the data directory, the service's default).",
    )
    copy.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> None:
    """Copy the source database's rows into the target and say what was copied."""
    import logging

    from sqlalchemy.engine import make_url

    from schedy.server.errors import StorageUnavailable
    from schedy.server.store import Store, migrate, users
    from schedy.server.store.engine import DatabaseUnavailable, check_url, opening, shown_url, sqlite_path
    from schedy.server.store.failures import out_of_space
    from schedy.server.store.transfer import LEFT_OUT, CopyFailed, TargetNotEmpty, copy_rows, refuse_filled

    # The one line of an empty target at an older schema upgraded by the copy (the CLI shows errors only).
    logging.getLogger(migrate.__name__).setLevel(logging.WARNING)
    source_url = database_url(args)
    try:
        target_url = check_url(args.target)
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc)) from None
    if make_url(source_url) == make_url(target_url):
        raise UsageError(f"The source and the target are the same database ({shown_url(source_url)}).")
    if args.artifacts_from is not None and args.artifacts_to is None:
        raise UsageError("--artifacts-from needs --artifacts-to, the store to copy the artifact files into.")
    require_database(source_url, "name the one to copy with --database")
    ensure_parent(target_url)
    files = _stores(args.artifacts_from, args.artifacts_to) if args.artifacts_to is not None else None
    started = time.monotonic()
    stores: list[Store] = []
    scratch = contextlib.ExitStack()
    # A SQLite target file this copy creates goes again if the copy fails (not an empty, schema-only file).
    target_file = sqlite_path(target_url)
    created = target_file if target_file is not None and not target_file.exists() else None
    done = False
    try:
        with opening(source_url):
            stores.append(_source(source_url, scratch))
        with opening(target_url):
            if created is None:  # an existing database: every refusal first, read without changing it
                revision = migrate.revision_of(target_url)
                migrate.refuse_newer(target_url, revision)
                refuse_filled(target_url)
            store = Store(target_url)
            stores.append(store)
            with store.write():  # the first connection, where a database that cannot be opened is said
                pass
        # copy_rows brings the target to this schema in the copy's transaction (all or nothing, schema too).
        source, target = stores

        begun = False

        def begin() -> None:  # once the target was found empty: the copy begins
            nonlocal begun
            if not begun:
                print(f"Copying {shown_url(source_url)} into {shown_url(target_url)}:", flush=True)
                begun = True

        def told(table: str, rows: int) -> None:
            begin()
            print(f"  {table}: {rows:,}", flush=True)

        written: list[str] = []  # the files this copy added to the target store

        def blobs(keys: list[str]) -> list[str]:
            begin()
            assert files is not None  # noqa: S101 - only passed with the stores
            return _copy_files(*files, keys, written, _Listed(source_url, scratch))

        try:
            copied = copy_rows(source, target, told, None if files is None else blobs)
        except BaseException as exc:
            if files is not None and written:  # the rows were not written: their files go too
                _remove_files(files[1], written)
            if isinstance(exc, Exception) and out_of_space(exc):  # the target's transaction was rolled back
                raise CopyFailed(
                    f"The disk of the target {shown_url(target_url)} is full: nothing was copied; free space "
                    "there, or copy into a database on another disk."
                ) from None
            raise
        if files is not None:  # the copied files' store is the copy's: its processes take it without a warning
            _mark_copied_store(target, files[1])
        with target.read() as conn:  # a removed user's row stays as a tombstone: not a user
            people = len(users.all_users(conn))
        done = True
    except (DatabaseUnavailable, TargetNotEmpty, CopyFailed, StorageUnavailable) as exc:
        raise CommandError(str(exc)) from None
    finally:
        for store in stores:
            store.dispose()
        scratch.close()  # the upgraded copy of an older source, if one was made
        if created is not None and not done:
            for path in (created, *(created.with_name(created.name + end) for end in ("-wal", "-shm", "-journal"))):
                path.unlink(missing_ok=True)
    removed = copied["users"] - people
    counts = ", ".join(
        (
            _count(people, "user") + (f" (and {removed:,} removed, kept as a record)" if removed else ""),
            _count(copied["experiments"], "experiment"),
            _count(copied["jobs"], "job"),
        )
    )
    artifacts = (
        f"--artifacts {args.artifacts_to} (where the artifact files were copied)"
        if args.artifacts_to is not None
        else "the same --artifacts, if any (the artifact files stay where they are; --artifacts-to copies them)"
    )
    gone = copied[LEFT_OUT]
    left_out = (
        f" ({_count(gone, 'artifact')} left out: the service deleted {'it' if gone == 1 else 'them'} while copying)"
        if gone
        else ""
    )
    print(
        f"Copied {counts} and {_count(copied['reports'], 'report')}{left_out} in {time.monotonic() - started:.1f} s. "
        f"What a service writes to the source from now on is not in the copy; start the service with --database "
        f"{shown_url(target_url)} and {artifacts}.",
        flush=True,
    )


def _source(url: str, scratch: contextlib.ExitStack) -> Store:
    """The store to copy from: the source itself, read-only, or an upgraded copy of an older SQLite source.

    The source is never written: a SQLite file is opened read-only (a file on read-only storage is copied
    too), and one at an older schema revision is copied first into a temporary directory (entered on
    ``scratch``), whose copy is upgraded. Call it inside :func:`~schedy.server.store.engine.opening`.

    Raises:
        CommandError: the source holds no Schedy schema, or an older one on PostgreSQL, where upgrading it
            is the service's start (this command never changes its source).
        DatabaseUnavailable: a newer Schedy migrated it, or it cannot be opened.

    """
    import sqlite3
    import tempfile
    from pathlib import Path

    from schedy.cli.admin import require_schema
    from schedy.server.store import Store, migrate, transfer
    from schedy.server.store.engine import is_sqlite, read_only_url, shown_url

    revision = migrate.revision_of(url)
    require_schema(url, revision, "name the one to copy with --database")
    migrate.refuse_newer(url, revision)
    sqlite = is_sqlite(url)
    source = Store(read_only_url(url) if sqlite else url, pool_size=1)
    if revision == migrate.head():
        return source
    if not sqlite:
        source.dispose()
        raise CommandError(
            f"The source database {shown_url(url)} has the schema of an older Schedy (revision {revision}, this "
            f"one's is {migrate.head()}), and a copy never changes its source: upgrade it first by starting this "
            f"version's service on it once (schedy server --database {shown_url(url)}, then stop it), then copy."
        )
    # An older SQLite file: copy it whole (SQLite's backup, one snapshot) and upgrade the copy.
    try:
        directory = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="schedy-copy-")))
        copy = directory / "source.db"
        transfer.sqlite_backup(source, copy)
    except (OSError, sqlite3.Error) as exc:
        raise CommandError(
            f"Cannot make an upgraded copy of the source, whose schema is an older Schedy's, in "
            f"{tempfile.gettempdir()} ({exc}): set TMPDIR to a directory with room for it."
        ) from None
    finally:
        source.dispose()
    print(
        f"The source has the schema of an older Schedy (revision {revision}): copying from an upgraded copy of it "
        "in a temporary directory; the source is left as it is.",
        flush=True,
    )
    upgraded = Store(f"sqlite:///{copy}", pool_size=1)
    migrate.upgrade(upgraded)
    return upgraded


def _stores(source: str | None, target: str) -> tuple[BlobStore, BlobStore]:
    """The artifact stores to copy files from and to, checked as a starting service checks its own."""
    from schedy.server.service.blobs import ArtifactsUnavailable, blob_store
    from schedy.server.settings import data_dir

    try:
        return blob_store(source, data_dir()), blob_store(target, data_dir())
    except ArtifactsUnavailable as exc:
        raise CommandError(str(exc)) from None


class _Listed:
    """Whether the source database lists an artifact file now: one connection of its own, opened at first use.

    Read outside the copy's snapshot, to tell a file a running service deleted since (no longer listed)
    from one missing from the store given (still listed). A source at an older schema is asked as it is.
    """

    def __init__(self, url: str, scratch: contextlib.ExitStack) -> None:
        self._url, self._scratch = url, scratch
        self._store: Store | None = None

    def __call__(self, key: str) -> bool:
        from sqlalchemy.exc import SQLAlchemyError

        from schedy.server.store import Store
        from schedy.server.store.engine import is_sqlite, read_only_url
        from schedy.server.store.transfer import listed_now

        if self._store is None:
            self._store = Store(read_only_url(self._url) if is_sqlite(self._url) else self._url, pool_size=1)
            self._scratch.callback(self._store.dispose)
        try:
            return listed_now(self._store, key)
        except SQLAlchemyError:  # cannot tell: take it as listed, the store given is then the likely cause
            return True


def _copy_files(
    source: BlobStore, target: BlobStore, keys: list[str], written: list[str], listed: Callable[[str], bool]
) -> list[str]:
    """Copy each blob from ``source`` to ``target`` in chunks, committed one by one (never whole in memory).

    Appends to ``written`` the key of each file it added to ``target`` (not one that was there already,
    e.g. when both are the same store), so that a copy that fails later can remove them. Returns the keys
    of the files missing from ``source`` whose artifacts are no longer listed (``listed(key)`` is false): a
    running service deleted them since the snapshot, and their rows are left out of the copy.

    Raises:
        CommandError: a file is missing whose artifact is still listed, or a store fails (the database
            copy is then rolled back).

    """
    from schedy.server.errors import StorageUnavailable

    gone: list[str] = []
    if not keys:
        print("  artifact files: none", flush=True)
    for number, key in enumerate(keys, start=1):
        try:
            new = not _exists(target, key)
            with source.open(key) as stream:
                writer = target.writer(key)
                try:
                    while chunk := stream.read(_CHUNK):
                        writer.write(chunk)
                except BaseException:
                    writer.abort()
                    raise
                writer.commit()
            if new:
                written.append(key)
        except FileNotFoundError:
            if listed(key):
                raise CommandError(
                    f"The artifact file {key} is not in {source.description}: give --artifacts-from the store the "
                    "source service used (its --artifacts); the target database is unchanged."
                ) from None
            if key not in gone:  # deleted by the service since the snapshot
                gone.append(key)
        except (StorageUnavailable, OSError) as exc:
            raise CommandError(
                f"Cannot copy the artifact file {key} ({exc}); the target database is unchanged."
            ) from None
        if number % 100 == 0 or number == len(keys):
            print(f"  artifact files: {number:,} of {len(keys):,}", flush=True)
    if gone:
        print(
            f"  artifact files: {len(gone):,} deleted by the service while copying (their artifacts are left out)",
            flush=True,
        )
    return gone


def _exists(store: BlobStore, key: str) -> bool:
    try:
        with store.open(key):
            return True
    except FileNotFoundError:
        return False


def _remove_files(store: BlobStore, keys: list[str]) -> None:
    """Remove the files a failed copy added to the target store (best effort: say which could not go)."""
    left = []
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # one file that stays is said below; the copy's own error matters more
            left.append(key)
    removed = len(keys) - len(left)
    print(f"  artifact files: removed the {removed:,} copied into {store.description}", flush=True)
    if left:
        print(f"  artifact files: could not remove {', '.join(left)} from {store.description}", flush=True)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _mark_copied_store(target: Store, store: BlobStore) -> None:
    """Record ``store`` as the target database's artifact store, with the source's store id if it had one.

    A service started on the copy with ``--artifacts`` that store then serves and takes its files
    (docs/service.md), even when the source had recorded a store but the copy holds no artifact yet.
    """
    import uuid

    from schedy.server.service.artifacts import StoreRecord
    from schedy.server.store import installation

    with target.write() as conn:
        record = StoreRecord.read(conn)
        identity = store.mark(record.id if record is not None else uuid.uuid4().hex)
        installation.put(conn, installation.ARTIFACT_STORE, StoreRecord(identity, store.where).dumps())
