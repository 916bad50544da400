"""``schedy user …`` on a SQLite database in a directory this user may not write: one sentence, not a traceback.

An operator runs ``schedy user list`` or ``user passwd`` on the service's
data directory owned by the service's account, or on a backup on
read-only storage: the commands said it in a 40-line SQLAlchemy traceback
(``passwd``'s showing the new password's hash), where ``schedy server``
and ``schedy user add`` say it in one sentence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.test_store_failures_read_only import _database
from tests.server.test_store_failures_start import as_ordinary_user


def _user(database: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``schedy user ARGS --database DATABASE``, as an ordinary user (file modes apply)."""
    command = [sys.executable, "-m", "schedy.cli.main", "user", *args, "--database", f"sqlite:///{database}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    return subprocess.run(as_ordinary_user(command), input=stdin, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def read_only_directory(tmp_path: Path):
    """A Schedy database (with a user) alone in a directory this user may enter but not write."""
    directory = tmp_path / "backup"
    directory.mkdir()
    database = _database(directory)
    added = _user(database, "add", "ada@example.com", "--no-password")
    assert added.returncode == 0, added.stderr
    assert not (directory / "schedy.db-wal").exists()  # compact, as a closed database or a copy is
    directory.chmod(0o500)
    yield database
    directory.chmod(0o700)


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("passwd", "ada@example.com", "--password-stdin"), "a long new password\n"),
        (("remove", "-f", "ada@example.com"), ""),
    ],
)
def test_a_user_command_that_writes_says_the_directory_is_read_only(read_only_directory: Path, args, stdin) -> None:
    result = _user(read_only_directory, *args, stdin=stdin)
    assert result.returncode == 1, result
    assert result.stderr.startswith(
        f"schedy: The directory of the database file {read_only_directory} is read-only for this user ("
    ), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one sentence: no traceback, no password hash
    assert "$argon2" not in result.stderr


def test_user_list_that_cannot_open_the_database_says_so_in_one_sentence(read_only_directory: Path) -> None:
    result = _user(read_only_directory, "list")
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"schedy: Cannot open the database sqlite:///{read_only_directory} ("), (
        result.stderr
    )
    assert "is the directory writable" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
