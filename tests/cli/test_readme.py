"""The README's command-line session runs as written (with the shipped examples/train.py), on the real service."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _session() -> list[list[str]]:
    """The ``$ schedy …`` commands of the README's console block, split as a shell would."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```console\n(.*?)```", text, re.S)
    assert block is not None, "the README has no console session"
    return [shlex.split(line[2:]) for line in block.group(1).splitlines() if line.startswith("$ schedy ")]


def test_the_readme_session_runs_as_written(cli):
    commands = _session()
    assert [c[1] for c in commands] == ["add", "push", "run", "list", "show", "rm"]
    job_id = None
    for words in commands:
        args = [sys.executable if w == "python" else str(ROOT / w) if w.startswith("examples/") else w for w in words]
        args = args[1:]  # without "schedy"
        if args[0] == "show" and job_id is not None:
            args[-1] = job_id  # the README shows an id of its own run
        stdin = "y\n" if args[0] == "rm" else ""
        done = cli(*args, stdin=stdin)
        assert done.returncode == 0, f"{' '.join(words)}:\n{done.stderr}"
        if args[0] == "run":
            assert "ran 4 jobs. 4 done, 0 crashed; best loss " in done.stderr
            job_id = re.search(r"best loss [\d.]+ \(job (\w+)\)", done.stderr).group(1)
        if args[0] == "list":
            rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "DONE" in line]
            assert len(rows) == 4
            assert done.stdout.splitlines()[1].split()[-2] == "loss"  # the header: ... | loss |
    assert cli.ok("list") == ""  # removed at the end, as the session does
