"""A ``--database`` (or ``database copy`` TARGET) Schedy cannot use is one sentence, never a traceback.

The same for every command that opens a database itself: ``schedy server``,
``schedy user …`` and ``schedy database copy`` (its source and its target).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from schedy.server.store import Store, migrate
from schedy.testing import PostgresCluster, free_port

#: How each command is given the database under test (``{url}``) and, for a copy, the other one (``{other}``).
COMMANDS = {
    "server": ("server", "--port", "{port}", "--database", "{url}"),
    "user list": ("user", "list", "--database", "{url}"),
    "copy from": ("database", "copy", "{other}", "--database", "{url}"),
    "copy into": ("database", "copy", "{url}", "--database", "{other}"),
}


def _run(command: str, url: str, tmp_path: Path, other: str) -> subprocess.CompletedProcess[str]:
    argv = [arg.format(url=url, other=other, port=free_port()) for arg in COMMANDS[command]]
    home = tmp_path / "home"
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(home / "client.json")},
        check=False,
    )


def _schedy_database(url: str) -> str:
    """``url``, a database with Schedy's schema (as a service's first start leaves it)."""
    store = Store(url)
    migrate.upgrade(store)
    store.dispose()
    return url


def _other(command: str, tmp_path: Path) -> str:
    """The other database of a copy: a Schedy one to copy from, or a new SQLite file to copy into."""
    if command == "copy into":
        return _schedy_database(f"sqlite:///{tmp_path / 'source.db'}")
    return f"sqlite:///{tmp_path / 'target.db'}"


def _assert_one_sentence(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("schedy: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert says in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # A misspelt libpq option (sslmode): libpq refuses it before connecting.
        (
            "{pg}?sslmod=require",
            'Cannot open the database {pg}?sslmod=require (invalid connection option "sslmod"): check the options',
        ),
        ("sqlite://", "Schedy needs a SQLite file, not an in-memory database (sqlite://): give sqlite:////"),
        ("sqlite:///:memory:", "Schedy needs a SQLite file, not an in-memory database (sqlite:///:memory:)"),
        # Drivers Schedy does not use: the URL to give instead, not a greenlet error or a package to install.
        (
            "{pg+asyncpg}",
            "Schedy connects to PostgreSQL with psycopg 3, not asyncpg ({pg+asyncpg}): give {pg} "
            "(or postgresql+psycopg://…).",
        ),
        (
            "{pg+psycopg2}",
            "Schedy connects to PostgreSQL with psycopg 3, not psycopg2 ({pg+psycopg2}): give {pg} "
            "(or postgresql+psycopg://…).",
        ),
        ("sqlite+aiosqlite:///{tmp}/s.db", "Schedy opens SQLite files with Python's sqlite3, not aiosqlite"),
    ],
    ids=["misspelt option", "sqlite://", ":memory:", "asyncpg", "psycopg2", "aiosqlite"],
)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_database_url_schedy_cannot_use_is_one_sentence(
    command: str, url: str, says: str, pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    pg = _schedy_database(pg_cluster.new_database())
    fill = {
        "{pg+asyncpg}": pg.replace("postgresql://", "postgresql+asyncpg://"),
        "{pg+psycopg2}": pg.replace("postgresql://", "postgresql+psycopg2://"),
        "{pg}": pg,
        "{tmp}": str(tmp_path),
    }
    for key, value in fill.items():
        url, says = url.replace(key, value), says.replace(key, value)
    result = _run(command, url, tmp_path, _other(command, tmp_path))
    _assert_one_sentence(result, says)
    assert "pip install" not in result.stderr
    assert not (tmp_path / "s.db").exists()
    assert not (tmp_path / "target.db").exists()


@pytest.mark.parametrize("command", [*COMMANDS, "user add"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_database_a_newer_schedy_migrated_is_one_sentence_and_left_as_it_is(
    backend: str, command: str, pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = _schedy_database(pg_cluster.new_database() if backend == "postgres" else f"sqlite:///{tmp_path / 'new.db'}")
    store = Store(url)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    store.dispose()
    if command == "user add":
        home = tmp_path / "home"
        result = subprocess.run(
            [sys.executable, "-m", "schedy.cli.main", "user", "add", "a@b.c", "--no-password", "--database", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "SCHEDY_HOME": str(home)},
            check=False,
        )
    else:
        result = _run(command, url, tmp_path, _other(command, tmp_path))
    _assert_one_sentence(
        result,
        "was migrated by a newer Schedy (schema revision 0099_future; Schedy ",
    )
    assert result.stderr.rstrip().endswith(
        f"knows up to {migrate.head()}): run that version of Schedy, or a newer one, on it."
    )
    store = Store(url)
    with store.read() as conn:
        assert migrate.current(conn) == "0099_future"
    store.dispose()
