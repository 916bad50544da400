"""What ``schedy database copy`` says it copied: the users a ``schedy user list`` shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _schedy(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env["HOME"] = str(home)
    argv = [sys.executable, "-m", "schedy.cli.main", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_copy_counts_the_users_there_are_not_the_row_a_removed_one_leaves(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source, target = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    for email in ("a@example.com", "b@example.com", "gone@example.com"):
        added = _schedy("user", "add", email, "--no-password", "--database", source, home=home)
        assert added.returncode == 0, added.stderr
    removed = _schedy("user", "remove", "gone@example.com", "-f", "--database", source, home=home)
    assert removed.returncode == 0, removed.stderr
    copied = _schedy("database", "copy", target, "--database", source, home=home)
    assert copied.returncode == 0, copied.stderr
    listed = _schedy("user", "list", "--database", target, home=home).stdout.split()
    assert listed == ["a@example.com", "b@example.com"]
    assert "Copied 2 users (and 1 removed, kept as a record), 0 experiments, 0 jobs and 0 reports" in copied.stdout
