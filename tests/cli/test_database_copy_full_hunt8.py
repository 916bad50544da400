"""``schedy database copy`` into a SQLite file on a full disk: one sentence, and nothing of the copy left.

A nightly backup to a disk that filled up printed a traceback ending in
"database or disk is full". The disk is a small tmpfs (mounting one needs
root, as on CI's machines; elsewhere the test is skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server.api.test_database_full import _fill_but, small_disk  # noqa: F401 - the fixture
from tests.server.test_store_failures_read_only import _database


def test_a_copy_into_a_full_disk_says_so_in_one_sentence_and_leaves_no_file(small_disk, tmp_path: Path) -> None:  # noqa: F811
    source = _database(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    schedy = [sys.executable, "-m", "schedy.cli.main"]
    added = subprocess.run(
        [*schedy, "user", "add", "ada@example.com", "--no-password", "--database", f"sqlite:///{source}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    _fill_but(small_disk, 48 * 1024)  # less than the copy's schema and rows need
    target = small_disk / "backup.db"
    copied = subprocess.run(
        [*schedy, "database", "copy", "--database", f"sqlite:///{source}", f"sqlite:///{target}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert copied.returncode == 1, copied
    assert copied.stderr.endswith(
        f"The disk of the target sqlite:///{target} is full: nothing was copied; free space there, or copy into "
        "a database on another disk.\n"
    ), copied.stderr
    assert "Traceback" not in copied.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["ballast"]  # the half-made target is gone
