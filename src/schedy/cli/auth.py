"""``schedy gen-token`` and ``schedy token list|revoke``: your API tokens.

``gen-token`` logs in with your password (``passauth/``), asks the service
for a new API token (``resettoken/``) and writes the service's answer, a
complete client configuration, to the configuration file. The file is
created with mode 0600 and moved into place, so the token is never
readable by others, not even for a moment, and a failure leaves the
previous file as it was. The temporary file is made before the service is
asked for a token, so a destination that cannot be written fails before a
token exists; should the write fail all the same, the new token is revoked:
no failure leaves a live token that nobody knows.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import getpass
import json
import os
import shlex
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedy._config import DEFAULT_CONFIG_PATH, ClientConfig
from schedy._db import SchedyDB
from schedy._routes import quote_segment
from schedy._transport import RetryPolicy, Transport
from schedy.cli.common import INTERACTIVE_ATTEMPTS, CommandError, connect
from schedy.cli.table import Table
from schedy.errors import ConfigurationError, ResourceNotFoundError, SchedyError

__all__ = ["DEFAULT_ROOT", "add_parsers", "cmd_gen_token", "cmd_token_list", "cmd_token_revoke", "config_path"]

#: Where ``gen-token`` logs in by default: ``schedy server`` on this machine.
DEFAULT_ROOT = "http://127.0.0.1:8700/"


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``gen-token`` and ``token``."""
    gen = subparsers.add_parser(
        "gen-token",
        help="Log in with your password and save a new API token (the client configuration).",
        description="Log in with your email and password, create a new API token and save the client "
        "configuration (root, email, token) to --config FILE, else $SCHEDY_CONFIG, else "
        "$SCHEDY_HOME/client.json, else ~/.schedy/client.json, readable only by you (mode 0600). "
        "Earlier tokens stay valid; see 'schedy token'.",
    )
    gen.add_argument("--root", default=DEFAULT_ROOT, help=f"URL of the Schedy service (default {DEFAULT_ROOT}).")
    gen.add_argument("--email", help="Your email (asked if not given).")
    password = gen.add_mutually_exclusive_group()
    password.add_argument("--password", help="Your password (asked if not given; safer than the command line).")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="Read the password from the first line of standard input, terminal or not (as 'schedy user' does).",
    )
    gen.add_argument(
        "--label",
        help="A name for the new token, shown by 'schedy token list' so you know which to revoke "
        "(default 'gen-token on HOSTNAME').",
    )
    gen.set_defaults(func=cmd_gen_token)

    token = subparsers.add_parser(
        "token",
        help="List or revoke your API tokens.",
        description="List or revoke your API tokens (the service shows their ids, never their secrets).",
    )
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    lst = token_sub.add_parser(
        "list",
        help="List your API tokens, live and revoked.",
        description="List your API tokens: id, what created it, when, and when it was revoked.",
    )
    lst.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser(
        "revoke",
        help="Revoke one of your API tokens.",
        description="Revoke one of your API tokens: workers using it stop within seconds. Revoking the "
        "token of your own configuration logs this machine out (run gen-token again).",
    )
    revoke.add_argument("token_id", metavar="ID", help="The token's id, from 'schedy token list'.")
    revoke.set_defaults(func=cmd_token_revoke)


def config_path(args: argparse.Namespace) -> Path:
    """Where the client configuration lives, in the client's own order of sources."""
    if args.config:
        return Path(args.config).expanduser()
    if os.environ.get("SCHEDY_CONFIG"):
        return Path(os.environ["SCHEDY_CONFIG"]).expanduser()
    if os.environ.get("SCHEDY_HOME"):
        return Path(os.environ["SCHEDY_HOME"]).expanduser() / DEFAULT_CONFIG_PATH.name
    return Path.home() / DEFAULT_CONFIG_PATH


def _cannot_write(path: Path, exc: OSError) -> CommandError:
    """The one-line error of a configuration that cannot be written."""
    return CommandError(f"Cannot write the configuration {path}: {exc.strerror or exc}.")


@dataclass
class PrivateFile:
    """A temporary file of :func:`open_private`: its descriptor, its path, and the directories made for it."""

    fd: int  # -1 once closed
    name: str
    made: list[Path] = field(default_factory=list)

    def discard(self) -> None:
        """Close and delete the file, and the directories made for it, left as they were before."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        Path(self.name).unlink(missing_ok=True)
        for directory in reversed(self.made):  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()


def open_private(path: Path) -> PrivateFile:
    """A new temporary file beside ``path``, mode 0600 from the start (its directory made 0700 if need be).

    Made before anything is asked of the service, so that a destination that cannot be written (a
    directory, a directory that cannot be created or written) fails first; :func:`write_private`
    fills it and moves it onto ``path``, :meth:`PrivateFile.discard` undoes it.

    Raises:
        CommandError: the directory or the file cannot be written.

    """
    made = [parent for parent in reversed(path.parents) if not parent.exists()]
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file 0600; os.replace then puts it in place in one step.
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise _cannot_write(path, exc) from None
    return PrivateFile(fd, name, made)


def write_private(path: Path, data: bytes, temporary: PrivateFile | None = None) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the start, atomically.

    Args:
        path: the file to write.
        data: its new content.
        temporary: the temporary file :func:`open_private` made for it (default: one made now).

    Raises:
        CommandError: the directory or the file cannot be written (which are then left as they were).

    """
    file = open_private(path) if temporary is None else temporary
    try:
        with os.fdopen(file.fd, "wb") as stream:
            file.fd = -1  # the stream's now: closed with it
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(file.name, path)
    except BaseException as exc:
        file.discard()
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise


def _ask_password() -> str:
    """The password, typed unseen on a terminal, else the next line of standard input (a script's pipe)."""
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return _read_line()  # getpass would warn that the input "may be echoed": there is nobody to see it


def _read_line() -> str:
    """The next line of standard input, without its line end (:class:`EOFError` at its end)."""
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def cmd_gen_token(args: argparse.Namespace) -> None:
    """Log in with the password, get a new API token, save the configuration."""
    path = config_path(args)
    try:
        email = args.email if args.email is not None else input("Email: ").strip()
        if args.password is not None:
            password = args.password
        elif args.password_stdin:
            password = _read_line()
        else:
            password = _ask_password()
    except EOFError:
        raise CommandError(
            "No email or password given: pass --email and --password, type them, or send them on standard input "
            "(one line each)."
        ) from None
    label = args.label if args.label is not None else f"gen-token on {socket.gethostname()}"
    login = ClientConfig.from_mapping(
        {"root": args.root, "email": email, "token": password, "token_type": "password"},
        "the command line",
        names={"root": "--root", "email": "the email", "token": "the password"},
    )
    previous = _configured_email(path)
    temporary = open_private(path)  # before the token exists: a destination that cannot be written fails here
    try:
        with SchedyDB(transport=Transport(login, retry=RetryPolicy(attempts=INTERACTIVE_ATTEMPTS))) as db:
            # Not replayed: a lost answer would leave a second live token nobody knows.
            response = db._transport.request("POST", "resettoken/", {"label": label}, replay=False)
        answer = response.json()
        try:
            if not isinstance(answer, dict):
                raise ConfigurationError("not a JSON object")
            made = ClientConfig.from_mapping(answer, "the service's answer to resettoken/")
        except ConfigurationError as exc:
            raise CommandError(
                f"The service did not answer a client configuration ({exc}); nothing was written."
            ) from None
    except BaseException:
        temporary.discard()
        raise
    try:
        write_private(path, response.data, temporary)
    except CommandError as exc:
        raise CommandError(f"{str(exc).removesuffix('.')}; {_revoke_new_token(login, made)}") from None
    print(f"Your token has been saved to {path}.")
    if previous is not None and previous.casefold() != made.email.casefold():
        print(
            f"schedy: it replaced the configuration of {previous} (whose token stays valid); "
            "--config FILE keeps one configuration per user.",
            file=sys.stderr,
        )
    _warn_if_the_environment_wins(args, path)


def _configured_email(path: Path) -> str | None:
    """The email of the configuration at ``path`` that gen-token is about to replace (``None``: none readable)."""
    try:
        config = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    email = config.get("email") if isinstance(config, dict) else None
    return email if isinstance(email, str) and email else None


def _revoke_new_token(login: ClientConfig, made: ClientConfig) -> str:
    """Revoke the token just made (whose configuration could not be saved); the end of the error's sentence."""
    # Through the root that answered the login: the answer's may be a public URL this machine cannot reach.
    config = ClientConfig(login.root, made.email, made.token, made.token_type, made.source)
    try:
        with SchedyDB(transport=Transport(config, retry=RetryPolicy(attempts=INTERACTIVE_ATTEMPTS))) as db:
            page: Any = db._transport.request("GET", "tokens/").json()
            ids = [item.get("id") for item in page.get("items", []) if item.get("current") is True]
            if len(ids) != 1:
                raise CommandError("the service did not say which token is the new one")
            db._transport.request("DELETE", f"tokens/{quote_segment(str(ids[0]))}/", expect=(204, 200), replay=True)
    except (SchedyError, AttributeError) as exc:
        text = str(exc).rstrip(".")
        return f"the new API token could not be revoked ({text}): revoke it with 'schedy token list|revoke'."
    return f"the new API token {ids[0]} was revoked, nothing was written."


def _warn_if_the_environment_wins(args: argparse.Namespace, path: Path) -> None:
    """Say so when SCHEDY_ROOT/EMAIL/TOKEN are set: without --config, commands use them, not the file written."""
    if args.config:
        return  # --config beats the variables: the file written is the one used
    names = [name for name in ("SCHEDY_ROOT", "SCHEDY_EMAIL", "SCHEDY_TOKEN") if os.environ.get(name)]
    if names:
        print(
            f"schedy: {', '.join(names)} {'is' if len(names) == 1 else 'are'} set and will be used instead of "
            f"{path}: unset {'it' if len(names) == 1 else 'them'} (or pass --config {path}) to use the new token.",
            file=sys.stderr,
        )


def cmd_token_list(args: argparse.Namespace) -> None:
    """Print a table of the caller's API tokens."""
    with connect(args) as db:
        page: Any = db._transport.request("GET", "tokens/").json()
    table = Table([("token", name) for name in ("id", "label", "created", "revoked", "used here")])
    for item in page.get("items", []) if isinstance(page, dict) else []:
        # Absent (blank) rather than null: a live token has no revocation time.
        cells = {"id": item.get("id"), "label": item.get("label"), "created": item.get("createdAt"),
                 "revoked": item.get("revokedAt"),
                 "used here": "yes (this configuration)" if item.get("current") is True else None}  # fmt: skip
        table.add_row({("token", name): value for name, value in cells.items() if value is not None})
    print(table.grid())


def _gen_token_command(args: argparse.Namespace) -> str:
    """``schedy gen-token``, with the ``--config FILE`` this command was given (where the new token must go)."""
    return "schedy gen-token" if not args.config else f"schedy --config {shlex.quote(args.config)} gen-token"


def _current_token(db: SchedyDB) -> int | str | None:
    """The id of the token this configuration's session was opened with (``None``: unknown, or a password)."""
    try:
        page: Any = db._transport.request("GET", "tokens/").json()
    except SchedyError:
        return None  # the revocation itself says what is wrong
    items = page.get("items") if isinstance(page, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("current") is True:
            current: int | str | None = item.get("id")
            return current
    return None


def cmd_token_revoke(args: argparse.Namespace) -> None:
    """Revoke one of the caller's API tokens; say so when it was the one this configuration uses."""
    with connect(args) as db:
        current = _current_token(db)  # asked first: once it is revoked, this configuration cannot ask
        try:
            db._transport.request("DELETE", f"tokens/{quote_segment(args.token_id)}/", expect=(204, 200), replay=True)
        except ResourceNotFoundError:
            # One sentence for every id (the service quotes some, e.g. 'abc', and not others).
            raise CommandError(
                f"You have no API token with id {args.token_id}: 'schedy token list' lists yours."
            ) from None
    print(f"API token {args.token_id} revoked.")
    if current is not None and str(current) == args.token_id.lstrip("0"):
        print(
            f"schedy: that was this configuration's token: this machine is logged out; {_gen_token_command(args)} "
            "logs in with your password and saves a new one.",
            file=sys.stderr,
        )
