"""``schedy run -j N``: several workers in one command, each with a job and a command of its own, the real service."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

import schedy
from tests.cli.test_run import _jobs, _queue, interrupted, on_a_terminal

# The command each job runs: --mode ok|fail|sleep, --seconds S (how long it works), --flag PATH (written on
# Ctrl-C). It records when it ran, in which slot and with which GPU, and prints one line in two writes.
COMMAND = r"""
import json, os, pathlib, sys, time
argv = sys.argv[1:]
def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default
start = time.time()
job = os.environ["SCHEDY_JOB_ID"]
print(f"line of {job} begins,", end="", flush=True)
try:
    if opt("--flag"):  # in the try block: an interrupt from now on is caught
        pathlib.Path(opt("--flag") + ".started").touch()
    time.sleep(float(opt("--seconds", "0")))
except KeyboardInterrupt:
    with open(opt("--flag"), "a") as flag:  # appended: a second SIGINT would show
        flag.write("SIGINT ")
    sys.exit(1)
print(f" line of {job} ends", flush=True)
if opt("--mode") == "fail":
    sys.exit(3)
print("--- RESULTS ---")
print(json.dumps({
    "loss": float(opt("--loss", "1")),
    "start": start,
    "end": time.time(),
    "slot": os.environ["SCHEDY_SLOT"],
    "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
}))
"""


@pytest.fixture
def command(tmp_path):
    """The path of the test command."""
    path = tmp_path / "command.py"
    path.write_text(COMMAND)
    return str(path)


def test_workers_run_jobs_side_by_side_each_in_its_slot_with_its_gpu(cli, command):
    losses = [0.6, 0.2, 0.9, 0.4, 0.05, 0.7]
    ids = _queue(cli, "exp", *({"seconds": 0.6, "loss": loss} for loss in losses))
    done = cli("run", "--gpus", "4,5,6", "--minimize", "loss", "exp", sys.executable, command, "%h")
    assert done.returncode == 0, done.stderr
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == ["DONE"] * 6
    results = [jobs[i].results for i in ids]
    # One worker per GPU id, the command of slot i seeing the i-th id only.
    assert {r["slot"] for r in results} <= {"0", "1", "2"}
    assert all(r["gpu"] == "456"[int(r["slot"])] for r in results)
    # Side by side: at some moment more than one job was running (one worker would need 6 × 0.6 s in turn).
    most = max(sum(r["start"] <= t["start"] < r["end"] for r in results) for t in results)
    assert most >= 2
    # Each worker is named apart in the jobs it ran (the dashboard's timeline shows one row per worker).
    for i in ids:
        assert re.fullmatch(r".+:\d+/[012]", jobs[i].worker), jobs[i].worker
        assert jobs[i].worker.endswith("/" + jobs[i].results["slot"])
    # A line one command wrote in two parts is never cut by another command's output.
    lines = [line for line in done.stdout.splitlines() if line.startswith("line of")]
    assert sorted(lines) == sorted(f"line of {i} begins, line of {i} ends" for i in ids)
    # The runner's lines say which worker; the last one sums up all of them.
    assert re.search(rf"^schedy run \[[012]\]: job {ids[0]} DONE in ", done.stderr, re.M)
    best = ids[losses.index(min(losses))]
    assert done.stderr.splitlines()[-1] == (
        f"schedy run: 3 workers ran 6 jobs. 6 done, 0 crashed; best loss 0.05 (job {best})."
    )


def test_max_jobs_counts_the_jobs_of_every_worker(cli, command):
    ids = _queue(cli, "exp", *({"seconds": 0.2} for _ in range(6)))
    done = cli("run", "-j", "3", "-n", "4", "exp", sys.executable, command, "%h")
    assert done.returncode == 0, done.stderr
    statuses = [job.status for job in _jobs(cli, "exp").values()]
    assert sorted(statuses) == ["DONE"] * 4 + ["QUEUED"] * 2
    assert len(ids) == 6
    assert done.stderr.splitlines()[-1] == "schedy run: 3 workers ran 4 jobs. 4 done, 0 crashed."


def test_a_crashed_job_stops_every_worker_once_its_running_job_is_done(cli, command):
    failing, slow, *rest = _queue(
        cli, "exp", {"mode": "fail", "seconds": 1.5}, {"seconds": 3}, {"seconds": 0}, {"seconds": 0}, {"seconds": 0}
    )
    done = cli("run", "-j", "2", "exp", sys.executable, command, "%h")
    assert done.returncode == 1, done.stderr
    jobs = _jobs(cli, "exp")
    assert jobs[failing].status == "CRASHED"
    assert jobs[slow].status == "DONE"  # the other worker's job was not cut short
    assert [jobs[i].status for i in rest] == ["QUEUED"] * 3  # and no worker claimed a new one
    stopped = rf"^schedy run \[[01]\]: stopped after job {failing} crashed \(see --ignore-errors\)\.$"
    assert re.search(stopped, done.stderr, re.M)
    assert re.search(
        rf"^schedy run \[[01]\]: job {failing} crashed \(see --ignore-errors\): no new job claimed\.$",
        done.stderr,
        re.M,
    )
    assert done.stderr.splitlines()[-1] == "schedy run: 2 workers ran 2 jobs. 1 done, 1 crashed."


def test_ignore_errors_lets_every_worker_go_on(cli, command):
    ids = _queue(cli, "exp", {"mode": "fail"}, {"mode": "fail"}, {}, {}, {})
    done = cli("run", "-j", "2", "--ignore-errors", "exp", sys.executable, command, "%h")
    assert done.returncode == 0, done.stderr  # some jobs succeeded
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == ["CRASHED", "CRASHED", "DONE", "DONE", "DONE"]


@pytest.mark.parametrize(("flag", "status"), [([], "CRASHED"), (["--requeue-on-interrupt"], "QUEUED")])
def test_ctrl_c_reaches_every_running_command_once_and_ends_every_worker(cli, command, tmp_path, flag, status):
    marks = [tmp_path / "a", tmp_path / "b"]
    ids = _queue(cli, "exp", *({"seconds": 60, "flag": str(mark)} for mark in marks), {"seconds": 0})

    def commands_ready(_: object) -> None:
        # Both sleepers' commands can take the interrupt, and the third worker ran the quick job and
        # stopped (its command, started last, could still be running when the sleepers were ready).
        deadline = time.monotonic() + 60
        while not all(Path(f"{mark}.started").exists() for mark in marks):
            assert time.monotonic() < deadline, "the two long jobs never ran side by side"
            time.sleep(0.1)
        while _jobs(cli, "exp")[ids[2]].status != "DONE":
            assert time.monotonic() < deadline, "the quick job never ended"
            time.sleep(0.1)

    code, err = interrupted(cli, ("run", "-j", "3", *flag, "exp", sys.executable, command, "%h"), commands_ready)
    assert code == 130, err
    assert [mark.read_text() for mark in marks] == ["SIGINT ", "SIGINT "]  # each command got it, once
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == [status, status, "DONE"]
    assert "Traceback" not in err
    # The closing counts add up to the jobs started: the two interrupted ones are named as they ended.
    ended = "2 crashed" if status == "CRASHED" else "0 crashed, 2 queued again"
    assert err.splitlines()[-1] == f"schedy run: 3 workers ran 3 jobs. 1 done, {ended}."


def test_one_progress_line_counts_every_worker_on_a_terminal(cli, command):
    _queue(cli, "exp", *({"seconds": 1.5, "loss": loss} for loss in (0.5, 0.25, 0.75, 0.125)))
    text = on_a_terminal(cli, "run", "-j", "2", "--minimize", "loss", "exp", sys.executable, command, "%h")
    # (The terminal is 80 columns wide: the line ends with "…" there.)
    assert "schedy run exp · 2 workers, 2 running · 0 done · 0 crashed · no loss yet" in text
    assert "schedy run exp · 2 workers, 2 running · 2 done · 0 crashed · best loss 0.25" in text
    assert len(re.findall(r"line of \w+ begins, line of \w+ ends", text)) == 4  # each line whole
    assert text.endswith("\r\x1b[K")  # erased at the end: nothing left behind


def test_a_run_whose_every_result_is_nan_says_so_not_that_the_result_is_missing(cli):
    """A diverged training ends DONE with a NaN loss: one worker's summary and several workers' say so alike."""
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("diverged", {"x": schedy.random.Uniform(0, 1)}))
    command = [sys.executable, "-c", "print('--- RESULTS ---'); print('{\"loss\": NaN}')"]
    one = cli("run", "-n", "2", "--minimize", "loss", "diverged", *command)
    assert one.returncode == 0, one.stderr
    assert one.stderr.splitlines()[-1] == (
        "schedy run: ran 2 jobs. 2 done, 0 crashed; no finite loss yet (2 jobs with NaN or infinity)."
    )
    pool = cli("run", "-j", "2", "-n", "3", "--minimize", "loss", "diverged", *command)
    assert pool.returncode == 0, pool.stderr
    assert pool.stderr.splitlines()[-1] == (
        "schedy run: 2 workers ran 3 jobs. 3 done, 0 crashed; no finite loss yet (3 jobs with NaN or infinity)."
    )
