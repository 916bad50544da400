"""A PostgreSQL role that may connect but not create tables: one sentence saying what to do, nothing created.

Since PostgreSQL 15 a role may not create tables in the ``public`` schema of a database it does not own,
the usual result of ``createdb`` run as ``postgres`` and a service connecting as its own role.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from schedy.testing import PostgresCluster, free_port

_ROLES = itertools.count()


def _schedy(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env["HOME"] = str(home)
    argv = [sys.executable, "-m", "schedy.cli.main", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def _admin(cluster: PostgresCluster, database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname={database}", autocommit=True)


def _tables(cluster: PostgresCluster, database: str) -> list[str]:
    with _admin(cluster, database) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def unprivileged(pg_cluster: PostgresCluster) -> tuple[str, str, str]:
    """(URL, role, database): a database owned by ``postgres``, and a role that may only connect to it."""
    number = next(_ROLES)
    role, database = f"schedy_noddl_{os.getpid()}_{number}", f"noddl_{os.getpid()}_{number}"
    with _admin(pg_cluster) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE DATABASE {database}")  # owned by postgres: no CREATE on public for the role
    return f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{database}", role, database


@pytest.mark.parametrize("command", ["server", "user add", "database copy"])
def test_a_role_that_cannot_create_tables_is_told_in_one_sentence_how_to_grant_it(
    command: str, unprivileged: tuple[str, str, str], pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url, role, database = unprivileged
    home = tmp_path / "home"
    if command == "server":
        args = ["server", "--port", str(free_port()), "--database", url, "--log-level", "warning"]
    elif command == "user add":
        args = ["user", "add", "z@example.com", "--no-password", "--database", url]
    else:
        source = f"sqlite:///{tmp_path / 'source.db'}"
        added = _schedy("user", "add", "z@example.com", "--no-password", "--database", source, home=home)
        assert added.returncode == 0, added.stderr
        args = ["database", "copy", url, "--database", source]
    result = _schedy(*args, home=home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"schedy: The role {role} may not create Schedy's tables in the database ")
    assert "permission denied for schema public" in result.stderr
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in result.stderr
    assert f"ALTER DATABASE {database} OWNER TO {role}" in result.stderr
    assert "is serving" not in result.stdout
    assert _tables(pg_cluster, database) == []  # nothing half-created
    # Doing what it says is enough.
    with _admin(pg_cluster, database) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    if command != "server":
        again = _schedy(*args, home=home)
        assert again.returncode == 0, again.stderr
        assert "users" in _tables(pg_cluster, database)


def test_a_role_given_only_some_of_schedys_tables_is_refused_at_start_with_the_grant_to_run(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """Not a traceback at start, nor a 500 on the first request touching a table it may not write."""
    number = next(_ROLES)
    role, database = f"schedy_partial_{os.getpid()}_{number}", f"partial_{os.getpid()}_{number}"
    home = tmp_path / "home"
    with _admin(pg_cluster) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE DATABASE {database}")
    owner_url = pg_cluster.url(database)
    created = _schedy("user", "add", "z@example.com", "--no-password", "--database", owner_url, home=home)
    assert created.returncode == 0, created.stderr  # Schedy's tables, created by postgres
    with _admin(pg_cluster, database) as conn:
        conn.execute(f"GRANT SELECT ON alembic_version TO {role}")  # enough to see the schema is current
    url = f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{database}"
    for args in (
        ["server", "--port", str(free_port()), "--database", url],
        ["user", "add", "y@example.com", "--no-password", "--database", url],
    ):
        result = _schedy(*args, home=home)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"schedy: The role {role} may not read and write all of Schedy's tables ")
        assert "(not api_tokens, api_tokens_id_seq, " in result.stderr
        assert "ON ALL TABLES IN SCHEMA public and USAGE ON ALL SEQUENCES IN SCHEMA public" in result.stderr
    # Doing what it says is enough.
    with _admin(pg_cluster, database) as conn:
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    added = _schedy("user", "add", "y@example.com", "--no-password", "--database", url, home=home)
    assert added.returncode == 0, added.stderr
