"""First start on an empty database: an admin account, and a client config.

So that on a fresh machine ``schedy server`` followed by
``schedy.SchedyDB()`` just works, with nothing to configure.

The password is printed once and the API token is only in the client
configuration (both are stored hashed): the configuration is written before
the admin is committed, so that a configuration that cannot be written leaves
no account nobody has the secrets of (the next start would not create
another).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from schedy.errors import SchedyError
from schedy.server import security
from schedy.server.settings import private_dir
from schedy.server.store import Store, users

ADMIN_EMAIL = "admin@localhost"


@dataclass(frozen=True)
class FirstStart:
    """What the first start created (shown once: secrets are stored hashed)."""

    email: str
    password: str
    api_token: str
    config_path: Path | None


class ClientConfigUnwritable(SchedyError):
    """The first start's client configuration cannot be written (one sentence); no user was created."""


def write_client_config(path: Path, config: dict[str, str]) -> None:
    """Write a client configuration readable by its owner only (0600), whole or not at all.

    It is written to a temporary file (0600 from the start) in the same directory, then moved
    into place, so a failure never leaves half a configuration (which a next start would keep).

    Raises:
        OSError: the directory or the file cannot be written.

    """
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    path.chmod(0o600)


def ensure_admin(store: Store, root_url: str, config_path: Path) -> FirstStart | None:
    """Create the admin user if there is no user at all; ``None`` otherwise.

    Writes a client configuration at ``config_path`` unless one exists, before the admin is
    committed: if it cannot be written, nothing is. A directory (or any other file that is not a
    regular one) there is no configuration and cannot become one: refused the same way.

    Services started together on an empty database both find no user (PostgreSQL's READ COMMITTED
    counts before the other commits); the unique email lets one of them create the admin, and the
    other gets ``None`` as on any later start: it prints no password and writes no configuration
    (its token would be of no account), and the winner's configuration is left as it wrote it.

    Raises:
        ClientConfigUnwritable: the configuration cannot be written; no user was created.

    """
    password = security.new_password()
    api_token = security.new_api_token()
    written = None
    try:
        with store.write() as conn:
            if users.count(conn) > 0:
                return None
            user_id = users.create(conn, ADMIN_EMAIL, security.hash_password(password), is_admin=True)
            users.add_token(conn, user_id, security.hash_api_token(api_token), "first start")
            if config_path.exists() and not config_path.is_file():  # kept, it would be no configuration
                kind, such_as = (
                    ("a directory", f", such as {config_path / 'client.json'}")
                    if config_path.is_dir()
                    else ("not a regular file", "")
                )
                raise ClientConfigUnwritable(
                    f"Cannot write the client configuration {config_path}: it is {kind}; set SCHEDY_CONFIG to the "
                    f"path of a file{such_as}, and start again; no user was created."
                )
            if not config_path.exists():
                config = {"root": root_url, "email": ADMIN_EMAIL, "token": api_token, "token_type": "api_token"}
                try:
                    write_client_config(config_path, config)
                except OSError as exc:  # the transaction rolls back: no admin without its secrets
                    raise ClientConfigUnwritable(
                        f"Cannot write the client configuration {config_path} ({exc.strerror or exc}): make its "
                        "directory writable, or set SCHEDY_CONFIG (or SCHEDY_HOME) to a place this user can write, "
                        "and start again; no user was created."
                    ) from None
                written = config_path
    except users.UserExists:  # another service starting at the same time created it first
        return None
    except BaseException:
        if written is not None:  # the commit failed: a token of no account is no configuration
            with contextlib.suppress(OSError):
                written.unlink()
        raise
    return FirstStart(ADMIN_EMAIL, password, api_token, written)
