"""``schedy server`` and ``schedy user …``: running and administering a service."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from schedy.cli.common import CommandError, UsageError
from schedy.server.settings import DEFAULT_HOST, DEFAULT_PORT, default_database_url

if TYPE_CHECKING:
    from schedy.server.runner import TLSFiles

__all__ = [
    "add_parsers",
    "cmd_server",
    "cmd_user_add",
    "cmd_user_list",
    "cmd_user_passwd",
    "cmd_user_remove",
    "database_arg",
    "database_url",
    "ensure_parent",
    "require_database",
    "require_schema",
]


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``server`` and ``user``."""
    server = subparsers.add_parser(
        "server",
        help="Run the Schedy service.",
        description="Run the Schedy service (HTTP API and dashboard). The database is created and migrated "
        "on start; on an empty database, an admin user and a client configuration are created.",
    )
    server.add_argument("--host", default=DEFAULT_HOST, help=f"Address to listen on (default {DEFAULT_HOST}).")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
    database_arg(server)
    server.add_argument("--public-url", help="Root URL clients should use (default: the URL of each request).")
    server.add_argument(
        "--lease-grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="How long a job's lease may be overdue before the job is ended CRASHED: raise it to ride out "
        "service downtime or network cuts longer than about two heartbeat intervals. Stored in the database, "
        "it applies to every service process serving it (the last one started with it wins); without it, the "
        "stored grace applies (default 0).",
    )
    server.add_argument(
        "--artifacts",
        metavar="URL",
        default=None,
        help="Where job artifacts are stored: a directory or any fsspec URL, e.g. s3://bucket/schedy "
        "(default: artifacts/ in the data directory; see docs/artifacts.md).",
    )
    server.add_argument(
        "--artifact-max-size", default="10GiB", metavar="SIZE", help="Largest artifact accepted (default 10GiB)."
    )
    server.add_argument(
        "--artifact-quota", default="100GiB", metavar="SIZE", help="Artifact bytes each user may keep (default 100GiB)."
    )
    server.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="Serve HTTPS with this certificate (PEM, the chain after it); clients then use an https:// root. "
        "Without it, a service listening beyond this machine sends passwords and tokens in clear.",
    )
    server.add_argument(
        "--tls-key", metavar="FILE", help="The certificate's private key (PEM; default: in the --tls-cert file)."
    )
    server.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Close a connection whose request headers take, or whose body pauses, this long (default 10).",
    )
    server.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="The least severe log records the service writes to standard error (default info).",
    )
    server.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="Service processes sharing the port (default 1); more help on PostgreSQL, not on SQLite.",
    )
    server.set_defaults(func=cmd_server)

    user = subparsers.add_parser("user", help="Manage users (directly in the database).")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_sub.add_parser("add", help="Create a user and print an API token for it.")
    add.add_argument("email")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
    how.add_argument(
        "--no-password",
        action="store_true",
        help="No password: the user works with the printed API token only (a cluster's workers, CI) and cannot "
        "log in to the dashboard until 'schedy user passwd' gives it one.",
    )
    add.add_argument(
        "--admin",
        action="store_true",
        help="Mark the user as an administrator, as 'schedy user list' shows; the service grants it nothing "
        "more (every user sees only their own experiments; kept for compatibility).",
    )
    database_arg(add)
    add.set_defaults(func=cmd_user_add)
    lst = user_sub.add_parser("list", help="List users.")
    database_arg(lst)
    lst.set_defaults(func=cmd_user_list)
    passwd = user_sub.add_parser("passwd", help="Set a user's password.")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
    database_arg(passwd)
    passwd.set_defaults(func=cmd_user_passwd)
    remove = user_sub.add_parser(
        "remove",
        # Every service process trusts a session's liveness check for LIVENESS_TTL (5) seconds.
        help="Remove a user with its tokens, experiments, jobs and reports; its sessions end within 5 seconds.",
    )
    remove.add_argument("email")
    remove.add_argument("-f", "--force", action="store_true", help="Do not ask for confirmation.")
    database_arg(remove)
    remove.set_defaults(func=cmd_user_remove)


def database_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--database URL`` (the database a command works on directly) to ``parser``."""
    parser.add_argument(
        "--database",
        default=None,
        help="Database URL (default $SCHEDY_DATABASE_URL, else sqlite:///~/.schedy/schedy.db).",
    )


def database_url(args: argparse.Namespace) -> str:
    """``--database``, else ``$SCHEDY_DATABASE_URL``, else the data directory's SQLite file: checked."""
    from schedy.server.store.engine import DatabaseUnavailable, check_url

    url = args.database or default_database_url()
    try:
        return check_url(url)
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc)) from None


def require_database(url: str, name_it: str) -> None:
    """Refuse a SQLite database file that does not exist, which opening it would create, empty.

    ``name_it`` ends the sentence: how to name the right one (e.g. ``name the one to copy with --database``).
    Nothing for PostgreSQL, whose database must exist anyway, or a SQLite database in memory.

    Raises:
        CommandError: ``There is no database at FILE: NAME_IT (default …).``

    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not parsed.query.get("uri") and not Path(file).expanduser().exists():
        raise CommandError(
            f"There is no database at {file}: {name_it} (default $SCHEDY_DATABASE_URL, else the data directory's "
            "schedy.db)."
        )


def require_schema(url: str, revision: str | None, name_it: str) -> None:
    """Refuse a database that holds no Schedy schema (``revision`` ``None``), which migrating it would fill.

    A mistyped ``--database`` that names an existing database: PostgreSQL's ``postgres`` when the URL
    leaves the name out, another application's SQLite file. ``name_it`` ends the sentence as in
    :func:`require_database`.

    Raises:
        CommandError: ``There is no Schedy database at URL (it holds no Schedy tables): NAME_IT (default …).``

    """
    from schedy.server.store.engine import shown_url

    if revision is None:
        raise CommandError(
            f"There is no Schedy database at {shown_url(url)} (it holds no Schedy tables): {name_it} (default "
            "$SCHEDY_DATABASE_URL, else the data directory's schedy.db)."
        )


def _store(args: argparse.Namespace, *, create: bool = False, write: bool = True) -> object:
    """The database the command works on, at this version's schema; created only if ``create``.

    ``write``: the command writes (a SQLite file, or its directory, this user may not write is refused in
    one sentence, as the service's start refuses it). The first connection is made here, where a failure
    to open the database is one sentence too.

    With ``create`` (``user add``, which may come before the service's first start), a SQLite file that
    does not exist is created and a database with no Schedy tables gets them. Otherwise the database must be
    a Schedy one already. Either way its schema is checked first, without writing anything: one of an older
    Schedy is refused, not upgraded (an upgrade cannot be undone, and the older service processes still
    serving the database could not use it after it: starting this version's service on it upgrades it,
    docs/service.md, "Upgrading").

    Raises:
        CommandError: a SQLite file that does not exist or a database that holds no Schedy schema (a mistyped
            ``--database`` is not an empty service), one at an older Schedy's schema, one a newer Schedy
            migrated, or one that cannot be opened.

    """
    from schedy.server.store import Store, migrate
    from schedy.server.store.engine import DatabaseUnavailable, check_writable, opening, sqlite_path

    url = database_url(args)
    name_it = "name the service's with --database"
    if create:
        ensure_parent(url)
    else:
        require_database(url, name_it)
    file = sqlite_path(url)
    try:
        if write:
            check_writable(url)
        with opening(url):
            # A SQLite file that does not exist yet (user add) has no schema: nothing to read.
            revision = None if file is not None and not file.exists() else migrate.revision_of(url)
            if not create:
                require_schema(url, revision, name_it)
            migrate.refuse_newer(url, revision)
            migrate.refuse_older(url, revision)
            store = Store(url)
            if create:  # a new database's first schema (and, on PostgreSQL, the role's grants checked)
                migrate.upgrade(store, older=False)
            with store.read():  # the first connection (SQLite makes its -wal and -shm files), in one sentence
                pass
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc)) from None
    return store


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CommandError(
                "There is no terminal to type a password on: pass --password-stdin and send it on standard input."
            )
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("The passwords differ.")
    if len(password) < 8:
        raise CommandError("The password needs at least 8 characters.")
    return password


def cmd_server(args: argparse.Namespace) -> None:
    """Run the service until interrupted."""
    from schedy.server.runner import AddressInUse, serve
    from schedy.server.service.blobs import ArtifactsUnavailable
    from schedy.server.settings import Settings
    from schedy.server.store.engine import DatabaseUnavailable

    # The arguments first, each a usage error (exit status 2), before anything is created.
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}.")
    if not 1 <= args.workers <= 256:
        raise UsageError(f"--workers must be between 1 and 256, got {args.workers}.")
    if not 0 < args.header_timeout < 1e6:
        raise UsageError(f"--header-timeout must be a positive number of seconds, got {args.header_timeout}.")
    if args.lease_grace is not None and not 0 <= args.lease_grace < 1e9:
        raise UsageError(f"--lease-grace must be a number of seconds >= 0, got {args.lease_grace}.")
    _check_public_url(args.public_url)
    from schedy.server.service.artifacts import parse_size

    try:
        max_artifact, quota = parse_size(args.artifact_max_size), parse_size(args.artifact_quota)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tls = _tls(args.tls_cert, args.tls_key)
    url = database_url(args)
    ensure_parent(url)
    settings = Settings(
        database_url=url,
        public_url=args.public_url,
        lease_grace=args.lease_grace,
        header_timeout=args.header_timeout,
        artifacts_url=args.artifacts,
        max_artifact_bytes=max_artifact,
        artifact_quota_bytes=quota,
    )
    try:
        serve(settings, args.host, args.port, log_level=args.log_level, workers=args.workers, tls=tls)
    except (AddressInUse, DatabaseUnavailable, ArtifactsUnavailable) as exc:
        raise CommandError(str(exc)) from None


def _tls(cert: str | None, key: str | None) -> TLSFiles | None:
    """``--tls-cert`` and ``--tls-key``, checked by loading them as the server will."""
    from schedy.server.runner import TLSFiles, TLSUnusable

    if cert is None:
        if key is not None:
            raise UsageError("--tls-key needs --tls-cert: pass the certificate too, or neither for plain HTTP.")
        return None
    files = TLSFiles(cert, key)
    try:
        files.context()
    except TLSUnusable as exc:
        raise CommandError(str(exc)) from None
    return files


def _check_public_url(url: str | None) -> None:
    """``--public-url``: an absolute http(s) URL, which clients will be told to use."""
    from urllib.parse import urlsplit

    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise UsageError(
            f"--public-url must be the http:// or https:// URL clients reach the service at, such as "
            f"https://schedy.example.org/, got {url!r}."
        )


def ensure_parent(url: str) -> None:
    """Create a SQLite file's directory, private (``~/.schedy/`` on a first use); nothing for PostgreSQL.

    A directory this user cannot create, enter or write stops the command with one sentence naming it
    (the data directory, when the file is the default one).
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from schedy.server.settings import DataDirectoryUnusable, data_dir, usable_data_dir

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not parsed.query.get("uri"):
        directory = Path(parsed.database).expanduser().parent
        what = "data directory" if directory == data_dir() else "directory of the database file"
        try:
            usable_data_dir(directory, what)
        except DataDirectoryUnusable as exc:
            raise CommandError(str(exc)) from None


def cmd_user_add(args: argparse.Namespace) -> None:
    """Create a user with a password (unless ``--no-password``) and an API token."""
    from schedy.server import security
    from schedy.server.store import Store, users

    problem = users.email_problem(args.email)
    if problem is not None:  # before the password is asked for: a wrong argument
        raise UsageError(problem)
    store = _store(args, create=True)  # a user added before the service's first start
    assert isinstance(store, Store)  # noqa: S101 - narrowing for mypy
    hashed = None if args.no_password else security.hash_password(_read_password(args))
    token = security.new_api_token()
    try:
        with store.write() as conn:
            user_id = users.create(conn, args.email, hashed, is_admin=args.admin)
            users.add_token(conn, user_id, security.hash_api_token(token), "user add")
    except users.UserExists:
        raise CommandError(f"A user with email {args.email} already exists.") from None
    print(f"Created {'admin ' if args.admin else ''}user {users.normalise_email(args.email)}.")
    print(f"API token (shown once): {token}")


def cmd_user_list(args: argparse.Namespace) -> None:
    """Print every user."""
    from schedy.server.store import Store, users

    store = _store(args, write=False)
    assert isinstance(store, Store)  # noqa: S101 - narrowing for mypy
    with store.read() as conn:
        rows = users.all_users(conn)
    for row in rows:
        print(f"{row.email}{'  (admin)' if row.is_admin else ''}")


def cmd_user_passwd(args: argparse.Namespace) -> None:
    """Set a user's password."""
    from schedy.server import security
    from schedy.server.store import Store, users

    store = _store(args)
    assert isinstance(store, Store)  # noqa: S101 - narrowing for mypy
    password = _read_password(args)
    with store.write() as conn:
        user = users.by_email(conn, args.email)
        if user is None:
            raise CommandError(f"There is no user with email {args.email}.")
        users.set_password(conn, user.id, security.hash_password(password))
    print(
        f"Password of {user.email} changed; its sessions end within 5 seconds (clients with an API token log in again)."
    )


def cmd_user_remove(args: argparse.Namespace) -> None:
    """Remove a user and everything it owns."""
    import sys

    from schedy.server.store import Store, users

    store = _store(args)
    assert isinstance(store, Store)  # noqa: S101 - narrowing for mypy
    with store.read() as conn:
        user = users.by_email(conn, args.email)
    if user is None:
        raise CommandError(f"There is no user with email {args.email}.")
    if not args.force:
        if not sys.stdin.isatty():
            raise CommandError(f"Not removing {user.email} without confirmation: pass -f to remove it.")
        answer = input(f"Remove {user.email} with all its experiments and jobs? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CommandError("Nothing removed.")
    with store.write() as conn:
        users.remove(conn, user.email)
    # Its experiments were detached with it (hidden, nothing handed out): their jobs go in short batches, as
    # a service's delete does, so a running service's claims interleave (one it started finishes them too).
    from schedy.server.service.experiments import Experiments

    Experiments(store).finish_deletes()
    print(f"Removed {user.email}; its sessions and API tokens stop working within 5 seconds.")
