"""First start on an empty database: an admin account, and a client config.

So that on a fresh machine ``schedy server`` followed by
``schedy.SchedyDB()`` just works, with nothing to configure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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


def write_client_config(path: Path, config: dict[str, str]) -> None:
    """Write a client configuration readable by its owner only (0600)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    path.chmod(0o600)


def ensure_admin(store: Store, root_url: str, config_path: Path) -> FirstStart | None:
    """Create the admin user if there is no user at all; ``None`` otherwise.

    Writes a client configuration at ``config_path`` unless one exists.
    """
    password = security.new_password()
    api_token = security.new_api_token()
    with store.write() as conn:
        if users.count(conn) > 0:
            return None
        user_id = users.create(conn, ADMIN_EMAIL, security.hash_password(password), is_admin=True)
        users.add_token(conn, user_id, security.hash_api_token(api_token), "first start")
    written = None
    if not config_path.exists():
        write_client_config(
            config_path, {"root": root_url, "email": ADMIN_EMAIL, "token": api_token, "token_type": "api_token"}
        )
        written = config_path
    return FirstStart(ADMIN_EMAIL, password, api_token, written)
