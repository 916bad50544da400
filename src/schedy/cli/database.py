"""``schedy database copy TARGET``: every user, token, experiment, job and report into another, empty database.

For moving from the embedded SQLite file to PostgreSQL (several service
processes or hosts), or back (a backup, a laptop copy). The source is
``--database`` (default ``$SCHEDY_DATABASE_URL``, else the data
directory's SQLite file), read as one snapshot; the target is written in
one transaction, all or nothing, and must hold no users, experiments or
jobs. Artifact files are not in the database: the new service finds them
if it uses the same artifact store (``--artifacts``, by default
``artifacts/`` in the data directory).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from schedy.cli.admin import database_arg, database_url, ensure_parent
from schedy.cli.common import CommandError

__all__ = ["add_parsers", "cmd_copy"]


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
    copy.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> None:
    """Copy the source database's rows into the target and say what was copied."""
    from sqlalchemy.engine import make_url

    from schedy.server.store import Store, migrate
    from schedy.server.store.engine import DatabaseUnavailable, check_url, opening, shown_url
    from schedy.server.store.transfer import CopyFailed, TargetNotEmpty, copy_rows

    source_url = database_url(args)
    try:
        target_url = check_url(args.target)
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc)) from None
    if make_url(source_url) == make_url(target_url):
        raise CommandError(f"The source and the target are the same database ({shown_url(source_url)}).")
    source_file = make_url(source_url).database if make_url(source_url).get_backend_name() == "sqlite" else None
    if source_file and not Path(source_file).expanduser().exists():  # opening it would create an empty one
        raise CommandError(
            f"There is no database at {source_file}: name the one to copy with --database (default "
            "$SCHEDY_DATABASE_URL, else the data directory's schedy.db)."
        )
    ensure_parent(target_url)
    started = time.monotonic()
    stores: list[Store] = []
    try:
        for url in (source_url, target_url):
            with opening(url):
                store = Store(url)
                stores.append(store)
                migrate.upgrade(store)  # as a service starting on it would
        source, target = stores

        begun = False

        def told(table: str, rows: int) -> None:
            nonlocal begun
            if not begun:  # the target was found empty: the copy begins
                print(f"Copying {shown_url(source_url)} into {shown_url(target_url)}:", flush=True)
                begun = True
            print(f"  {table}: {rows:,}", flush=True)

        copied = copy_rows(source, target, told)
    except (DatabaseUnavailable, TargetNotEmpty, CopyFailed) as exc:
        raise CommandError(str(exc)) from None
    finally:
        for store in stores:
            store.dispose()
    counts = ", ".join(
        _count(copied[table], noun)
        for table, noun in (("users", "user"), ("experiments", "experiment"), ("jobs", "job"))
    )
    print(
        f"Copied {counts} and {_count(copied['reports'], 'report')} in {time.monotonic() - started:.1f} s. What a "
        f"service writes to the source from now on is not in the copy; start the service with --database "
        f"{shown_url(target_url)} (and the same --artifacts, if any: the artifact files stay where they are).",
        flush=True,
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
