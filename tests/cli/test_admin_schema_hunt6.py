"""``schedy user …`` never upgrades a service's database at an older schema; it says how (SQLite, PostgreSQL).

``schedy user list --database PRODUCTION`` from a laptop with a newer Schedy used to migrate production,
for good, under the older service processes still serving it. Now each user command refuses such a
database in one sentence and leaves it as it was; starting this version's service on it upgrades it (the
documented way, docs/service.md "Upgrading"), after which the commands work. A new database is still
created at this version's schema by ``user add`` before the service's first start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from schedy import __version__
from schedy.server.store import migrate
from schedy.testing import ServiceProcess
from tests.cli.test_copy_refused_hunt6 import _at

OLDER = "0013"

COMMANDS = {
    "list": ("list",),
    "add": ("add", "new@b.c", "--no-password"),
    "passwd": ("passwd", "prod@b.c", "--password-stdin"),
    "remove": ("remove", "prod@b.c", "-f"),
}


def _schedy(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEDY_HOME": str(home)},
        check=False,
    )


def _older(url: str) -> None:
    """A service's database as an older Schedy (schema 0013) left it, with one user."""
    _at(url, OLDER, user="prod@b.c")


def _state(url: str) -> dict[str, Any]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = {name: [c["name"] for c in inspector.get_columns(name)] for name in inspector.get_table_names()}
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            people = conn.execute(text("SELECT email, password_hash FROM users ORDER BY id")).all()
    finally:
        engine.dispose()
    return {"revision": revision, "tables": tables, "users": [tuple(row) for row in people]}


def test_user_commands_refuse_a_database_at_an_older_schema_and_change_nothing(
    database_url: str, tmp_path: Path
) -> None:
    _older(database_url)
    before = _state(database_url)
    file = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite") else None
    raw = file.read_bytes() if file is not None else b""
    for name, args in COMMANDS.items():
        done = _schedy("user", *args, "--database", database_url, home=tmp_path / "home", stdin="a new password\n")
        assert (done.returncode, done.stdout) == (1, ""), (name, done.stdout, done.stderr)
        assert done.stderr == (
            f"schedy: The database {database_url} has the schema of an older Schedy (revision {OLDER}; Schedy "
            f"{__version__} needs {migrate.head()}), and this command does not upgrade it: back it up and upgrade "
            f"it by starting this version's service on it (schedy server --database {database_url}; "
            'docs/service.md, "Upgrading"), or run the Schedy that serves it; nothing was changed.\n'
        ), name
        assert _state(database_url) == before, name
    if file is not None:
        assert file.read_bytes() == raw  # byte for byte
    # The documented upgrade: this version's service started on it once; the commands then work.
    with ServiceProcess.start(tmp_path / "service", database_url):
        pass
    listed = _schedy("user", "list", "--database", database_url, home=tmp_path / "home")
    assert (listed.returncode, listed.stdout) == (0, "prod@b.c\n"), listed.stderr
    assert _state(database_url)["revision"] == migrate.head()


def test_user_add_still_creates_a_new_database_before_the_first_start(database_url: str, tmp_path: Path) -> None:
    added = _schedy("user", "add", "first@b.c", "--no-password", "--database", database_url, home=tmp_path / "h")
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""  # a new database's first schema is no upgrade
    state = _state(database_url)
    assert (state["revision"], [email for email, _ in state["users"]]) == (migrate.head(), ["first@b.c"])
    listed = _schedy("user", "list", "--database", database_url, home=tmp_path / "h")
    assert (listed.returncode, listed.stdout) == (0, "first@b.c\n"), listed.stderr
