"""Where ``schedy run`` finds results and reports in a command's output: after carriage returns, not on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schedy.cli.command import ResultsParser
from tests.cli.test_run import _jobs, _queue

#: What a loop with ``tqdm(file=sys.stdout, leave=False)`` prints: a bar redrawn after carriage returns,
#: cleared, and a report (then the results) on the same line.
BARS = r"""
import json, sys
for epoch in range(2):
    for i in range(3):
        sys.stdout.write(f"\repoch {epoch} [{'=' * i}{' ' * (3 - i)}]")
    sys.stdout.write("\r" + " " * 20 + "\r")
    print("--- REPORT --- " + json.dumps({"step": epoch, "loss": 1.0 / (epoch + 1)}))
sys.stdout.write("eval [===]\r--- RESULTS ---\n")
print(json.dumps({"loss": 0.3}))
"""

#: Prints its report and results on its standard error.
ON_STDERR = r"""
import sys
print('--- REPORT --- {"step": 1, "loss": 0.5}', file=sys.stderr)
print('--- RESULTS ---', file=sys.stderr)
print('{"loss": 0.5}', file=sys.stderr)
"""


def _script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "command.py"
    path.write_text(text)
    return str(path)


def test_a_report_and_results_after_a_progress_bar_on_the_same_line_are_read(cli, tmp_path):
    (job_id,) = _queue(cli, "exp", {})
    done = cli("run", "exp", sys.executable, _script(tmp_path, BARS))
    assert done.returncode == 0, done.stderr
    with cli.db() as db:
        job = db.get_experiment("exp").get_job(job_id)
        assert (job.status, job.results) == ("DONE", {"loss": 0.3})
        assert [(r["step"], r["metrics"]) for r in job.reports()] == [(0, {"loss": 1.0}), (1, {"loss": 0.5})]


def test_results_and_reports_on_stderr_are_said_to_be_ignored(cli, tmp_path):
    (job_id,) = _queue(cli, "exp", {})
    done = cli("run", "exp", sys.executable, _script(tmp_path, ON_STDERR))
    assert done.returncode == 1
    assert _jobs(cli, "exp")[job_id].status == "CRASHED"
    assert (
        "schedy run: a '--- REPORT ---' line on the command's standard error is ignored: "
        "reports are read from its standard output only." in done.stderr
    )
    assert f"job {job_id} CRASHED in " in done.stderr
    assert (
        "the command printed its '--- RESULTS ---' block on its standard error: results are read from its "
        "standard output only" in done.stderr
    )
    assert "see --allow-empty-results" not in done.stderr


def _parsed(*chunks: bytes) -> tuple[object, list[object]]:
    parser = ResultsParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser.results(), parser.take_reports()


@pytest.mark.parametrize(
    "chunks",
    [
        [b'epoch 1 [====]\r--- REPORT --- {"step": 1, "loss": 0.5}\n'],
        [b"bar\r", b"   \r", b"--- REP", b'ORT --- {"step": 1, "loss": 0.5}\r', b"\n"],  # split anywhere
        [b'--- REPORT --- {"step": 1, "loss": 0.5}\r\n'],  # a Windows line end
        [b"bar 10%\r" * 200_000 + b'\r--- REPORT --- {"step": 1, "loss": 0.5}\n'],  # over 1 MiB of bar before it
    ],
)
def test_the_text_after_the_last_carriage_return_is_the_line(chunks):
    assert _parsed(*chunks) == (None, [(1, {"loss": 0.5})])


def test_a_results_block_opened_and_closed_after_carriage_returns():
    out = b'eval [==]\r--- RESULTS ---\r\n{"loss": 0.3}\r\n50%\r--- END RESULTS ---\nafter\n'
    assert _parsed(out) == ({"loss": 0.3}, [])


def test_a_progress_bar_cleared_after_a_marker_leaves_the_marker():
    """What counts is the last text a carriage return did not wipe: blanks after it do not."""
    assert _parsed(b"--- RESULTS ---\r      \r\n", b'{"loss": 1}\n') == ({"loss": 1}, [])


def test_a_marker_before_a_carriage_return_and_other_text_is_no_marker():
    assert _parsed(b"--- RESULTS ---\repoch 3\n", b'{"loss": 1}\n') == (None, [])
