"""An upgrade of a database's schema is said in one line by the service; a command does not upgrade one.

It used to be silent, and it is one-way (an older Schedy cannot use the database afterwards), so an
operator could not tell it had happened (SQLite and PostgreSQL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from schedy.server.store import migrate
from schedy.testing import PostgresCluster, ServiceProcess
from tests.cli.test_copy_refused_hunt6 import _at


def _at_revision(url: str, revision: str) -> None:
    """A database as a service of an earlier Schedy left it (schema ``revision``)."""
    _at(url, revision)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_service_says_it_upgraded_the_database_and_from_which_schema(
    backend: str, pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = pg_cluster.new_database() if backend == "postgres" else f"sqlite:///{tmp_path / 'old.db'}"
    _at_revision(url, "0002")
    with ServiceProcess.start(tmp_path / "home", url) as service:
        lines = [line for line in service.log().splitlines() if "Upgraded the database" in line]
    assert len(lines) == 1
    assert f"Upgraded the database from schema 0002 to {migrate.head()} " in lines[0]
    assert "cannot be undone" in lines[0]
    # Started again on it, or on a new database: nothing to say.
    with ServiceProcess.start(tmp_path / "home", url) as again:
        assert "Upgraded the database" not in again.log()  # a log file of its own (another port)
    with ServiceProcess.start(tmp_path / "fresh") as fresh:
        assert "Upgraded the database" not in fresh.log()


def test_a_command_on_an_older_database_neither_upgrades_it_silently_nor_at_all(tmp_path: Path) -> None:
    # A newer CLI run against a database older services still serve (a laptop against production)
    # changes nothing: `schedy user add` refuses in one line, and the schema stays where it was.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_revision(url, "0002")
    added = subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", "user", "add", "a@b.c", "--no-password", "--database", url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEDY_HOME": str(tmp_path / "home")},
        check=False,
    )
    assert added.returncode != 0
    assert "Upgraded the database" not in added.stderr
    assert "(revision 0002; Schedy" in added.stderr
    assert f"needs {migrate.head()})" in added.stderr
    assert "nothing was changed" in added.stderr
    assert len(added.stderr.splitlines()) == 1
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    finally:
        engine.dispose()
