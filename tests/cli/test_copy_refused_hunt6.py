"""A ``schedy database copy`` its target refuses leaves that target as it was, its schema too (SQLite, PostgreSQL).

It used to bring the target to this version's schema first and only then find it not empty: a mistyped
TARGET naming a service's database at an older schema (its service still running the older Schedy) was
refused, "The target database is not empty", yet migrated for good, with no word of it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from schedy.server.store import Store, migrate, users

OLDER = "0013"


def _schedy(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEDY_HOME": str(home)},
        check=False,
    )


def _at(url: str, revision: str, *, user: str | None = None) -> None:
    """A database as a service of an older Schedy (schema ``revision``) left it, holding ``user`` if given."""
    store = Store(url)
    try:
        with store.write() as conn:
            config = Config()
            config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            if user is not None:
                conn.execute(
                    text(
                        "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                        "VALUES (1, :email, NULL, :no, 1)"
                    ),
                    {"email": user, "no": False},
                )
    finally:
        store.dispose()


def _source(directory: Path) -> str:
    """A SQLite database at this version's schema holding one user."""
    url = f"sqlite:///{directory / 'source.db'}"
    store = Store(url)
    try:
        migrate.upgrade(store)
        with store.write() as conn:
            users.create(conn, "source@b.c", None, is_admin=False)
    finally:
        store.dispose()
    return url


def _state(url: str) -> dict[str, Any]:
    """What a copy must not change: the schema revision, every table with its columns, the users."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = {name: [c["name"] for c in inspector.get_columns(name)] for name in inspector.get_table_names()}
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            people = conn.execute(text("SELECT email FROM users ORDER BY id")).scalars().all()
    finally:
        engine.dispose()
    return {"revision": revision, "tables": tables, "users": people}


def _target(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'target.db'}"
    return str(request.getfixturevalue("pg_cluster").new_database())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_non_empty_target_at_an_older_schema_is_refused_and_left_at_its_schema(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, target = _source(tmp_path), _target(backend, request, tmp_path)
    _at(target, OLDER, user="prod@b.c")
    before = _state(target)
    file = tmp_path / "target.db"
    raw = file.read_bytes() if backend == "sqlite" else b""
    refused = _schedy("database", "copy", target, "--database", source, home=tmp_path / "home")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.startswith("schedy: The target database is not empty (it holds rows in users (1)"), (
        refused.stderr
    )
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert _state(target) == before
    assert before["revision"] == OLDER  # not this version's: an older service goes on serving it
    if backend == "sqlite":
        assert file.read_bytes() == raw  # byte for byte: not even its journal mode changed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_empty_target_at_an_older_schema_is_upgraded_by_the_copy_and_says_so(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, target = _source(tmp_path), _target(backend, request, tmp_path)
    _at(target, OLDER)
    copied = _schedy("database", "copy", target, "--database", source, home=tmp_path / "home")
    assert copied.returncode == 0, copied.stderr
    assert f"Upgraded the database from schema {OLDER} to {migrate.head()} " in copied.stderr
    state = _state(target)
    assert (state["revision"], state["users"]) == (migrate.head(), ["source@b.c"])


def test_a_failed_copy_into_an_empty_target_at_an_older_schema_leaves_its_schema(
    pg_cluster: Any, tmp_path: Path
) -> None:
    """The schema is brought up in the copy's own transaction: a row the target refuses rolls it back too."""
    source = _source(tmp_path)
    with sqlite3.connect(tmp_path / "source.db") as raw:  # PostgreSQL refuses a NUL character in text
        raw.execute("UPDATE users SET email = 'a' || char(0) || 'b'")
    raw.close()
    target = pg_cluster.new_database()
    _at(target, OLDER)
    before = _state(target)
    failed = _schedy("database", "copy", target, "--database", source, home=tmp_path / "home")
    assert failed.returncode == 1
    assert failed.stderr.startswith("schedy: The target refused a row of the table users ("), failed.stderr
    assert "Upgraded" not in failed.stderr
    assert _state(target) == before
