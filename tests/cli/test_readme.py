"""The command-line sessions of the README and docs/cli.md run as written, on the real service.

The README's session runs the shipped ``examples/train.py``; docs/cli.md's
runs the ``train.py`` it shows, saved as a user would. The job pushed by hand
has fixed hyperparameters, so what the pages print for it (its output, its
row, its results) is what a user gets; the three sampled jobs are random.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import clean_env

ROOT = Path(__file__).resolve().parents[2]


def _console(page: str) -> str:
    text = (ROOT / page).read_text()
    block = re.search(r"```console\n(.*?)```", text, re.S)
    assert block is not None, f"{page} has no console session"
    return block.group(1)


def _session(page: str) -> list[tuple[list[str], list[str]]]:
    """Each ``$ schedy …`` command of the page's console block, split as a shell would, with the lines it shows."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in _console(page).splitlines():
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:]), []))
        else:
            steps[-1][1].append(line)
    return steps


def _row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def _run_session(page: str, cli, cwd: Path) -> tuple[str, dict[str, subprocess.CompletedProcess[str]]]:  # type: ignore[no-untyped-def]
    """Run every command of the page's session in ``cwd``; return the pushed job's id and each command's output."""
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    pushed = ""
    for words, _shown in _session(page):
        assert words[0] == "schedy"
        args = [sys.executable if w == "python" else w for w in words[1:]]
        if args[0] == "show":
            args[-1] = pushed  # the page shows an id of its own run
        stdin = "y\n" if args[0] == "rm" else ""
        result = subprocess.run(
            cli.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(cli.home),
            cwd=cwd,
            check=False,
        )
        assert result.returncode == 0, f"{' '.join(words)}:\n{result.stderr}"
        if args[0] == "push":
            pushed = re.search(r"^id: (\w+)$", result.stdout, re.M).group(1)
        done[" ".join(args[:1] + args[1:2])] = result
    return pushed, done


def _check_common(page: str, pushed: str, done: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """What both sessions show of the pushed job: the same numbers a user gets."""
    shown = {" ".join(w[:3]): lines for w, lines in _session(page)}
    assert [w[1] for w, _ in _session(page)][:6] == ["add", "push", "run", "list", "show", "rm"]
    run = done["run -n"].stderr
    assert "ran 4 jobs. 4 done, 0 crashed; best loss " in run
    # The first job is the pushed one, run with the page's command line.
    command = re.search(r"^schedy run: job \w+: (.*)$", "\n".join(shown["schedy run -n"]), re.M).group(1)
    assert f"schedy run: job {pushed}: {command.replace('python', sys.executable, 1)}" in run
    # Its row in the sorted table, as the page shows it.
    listed = done["list mnist"].stdout.splitlines()
    page_table = [line for line in shown["schedy list mnist"] if line.startswith("|")]
    assert _row(listed[1]) == _row(page_table[0])  # the header
    page_row = _row(page_table[2])
    assert page_row[1:] == ["DONE", "0.003", "1", "0.0505"]
    assert [_row(line)[1:] for line in listed if line.startswith(f"| {pushed} ")] == [page_row[1:]]
    assert sum(" DONE " in line for line in listed) == 4


def test_the_readme_session_runs_as_written(cli, tmp_path: Path) -> None:
    pushed, done = _run_session("README.md", cli, ROOT)  # the README's paths are from the repository's root
    _check_common("README.md", pushed, done)
    assert cli.ok("list") == ""  # removed at the end, as the session does


def test_the_cli_page_session_runs_as_written_with_its_train_py(cli, tmp_path: Path) -> None:
    """docs/cli.md: its train.py saved as shown, then every command and what it prints for the pushed job."""
    page = (ROOT / "docs" / "cli.md").read_text()
    script = re.search(r"```python\n(.*?)```", page, re.S)
    assert script is not None
    (tmp_path / "train.py").write_text(script.group(1))
    pushed, done = _run_session("docs/cli.md", cli, tmp_path)
    _check_common("docs/cli.md", pushed, done)
    shown = {" ".join(words[:3]): lines for words, lines in _session("docs/cli.md")}
    page_id = re.search(r"^id: (\w+)$", "\n".join(shown["schedy push mnist"]), re.M).group(1)

    def ours(lines: list[str]) -> list[str]:
        return [line.replace(page_id, pushed) for line in lines]

    assert done["push mnist"].stdout.splitlines() == ours(shown["schedy push mnist"])
    # What train.py printed for the pushed job, line for line (the sampled jobs' lines are random).
    output = ours(shown["schedy run -n"])
    first = output[1 : output.index(next(line for line in output if line.startswith(f"schedy run: job {pushed} DONE")))]
    stdout = done["run -n"].stdout.splitlines()
    assert stdout[: len(first)] == first
    results = re.escape('{"loss": 0.0505}')
    assert re.search(rf"^schedy run: job {pushed} DONE in \d+\.\d s: {results}$", done["run -n"].stderr, re.M)
    # ``show``: the same fields in the same order, the same values where they do not depend on the run.
    page_show = [line.split(": ", 1) for line in shown["schedy show mnist"]]
    our_show = [line.split(": ", 1) for line in done["show mnist"].stdout.splitlines()]
    assert [key for key, _ in our_show] == [key for key, _ in page_show]
    fixed = {"id", "status", "lr", "layers", "loss", "attempt", "end_reason"}
    assert {k: v for k, v in our_show if k in fixed} == {k: ours([v])[0] for k, v in page_show if k in fixed}
    assert done["rm mnist"].stdout.endswith("Are you sure you want to remove mnist and all its jobs? [y/N] ")
    assert done["list"].stdout == ""
