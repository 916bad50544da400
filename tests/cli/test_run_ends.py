"""How ``schedy run`` ends a job it stops: what it keeps, which signals it heeds, how long it waits."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import schedy
from tests.cli.test_run import _jobs, _queue, _read_until

#: A trainer that, told to stop (SIGINT as KeyboardInterrupt, SIGTERM as SystemExit), prints the results
#: it has so far and exits 0; it writes which signal it got to the file given, and its pid next to it.
SAVER = r"""
import json, os, pathlib, signal, sys, time
flag = pathlib.Path(sys.argv[1])
flag.with_name("saver.pid").write_text(str(os.getpid()))
def stop(signum, frame):
    flag.write_text(signal.Signals(signum).name)
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
try:
    print("started", flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    if not flag.exists():
        flag.write_text("SIGINT")
    print("--- RESULTS ---")
    print(json.dumps({"loss": 0.123}), flush=True)
"""


def _saver(tmp_path: Path) -> list[str]:
    path = tmp_path / "saver.py"
    path.write_text(SAVER)
    return [sys.executable, str(path), str(tmp_path / "flag")]


def _stopped(cli, args: tuple[str, ...], signum: int, pidfile: Path) -> tuple[int, str]:
    """Start ``schedy ARGS``, wait for ``started``, send ``signum``; its exit status and stderr.

    Checks that the command's process group (its id in ``pidfile``) did not outlive the runner, and
    kills it if it did.
    """
    runner = cli.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _read_until(runner.stdout, b"started\n")
        os.kill(runner.pid, signum)
        _, err = runner.communicate(timeout=90)
        assert _group_gone(pidfile), "the command outlived the runner"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
        _kill_group(pidfile)
    return runner.returncode, err.decode()


@pytest.mark.parametrize(
    ("options", "status", "results"),
    [
        ((), "CRASHED", {"loss": 0.123}),
        (("-j", "2"), "CRASHED", {"loss": 0.123}),
        (("--requeue-on-interrupt",), "QUEUED", {}),  # its next run starts over and prints results of its own
    ],
)
def test_results_a_command_prints_when_interrupted_are_kept(cli, tmp_path, options, status, results):
    (job_id,) = _queue(cli, "exp", {})
    code, err = _stopped(cli, ("run", *options, "exp", *_saver(tmp_path)), signal.SIGINT, tmp_path / "saver.pid")
    assert code == 130, err
    assert (tmp_path / "flag").read_text() == "SIGINT"
    job = _jobs(cli, "exp")[job_id]
    assert (job.status, job.results) == (status, results)
    if status == "CRASHED":
        assert f"job {job_id} CRASHED in " in err
        assert 'interrupted; the results it printed are kept: {"loss": 0.123}' in err


@pytest.mark.parametrize("options", [(), ("-j", "2")])
def test_sighup_stops_the_command_and_ends_the_job_as_sigterm_does(cli, tmp_path, options):
    """A closed terminal or a dropped ssh connection: the command is told (SIGTERM), the job is ended now."""
    (job_id,) = _queue(cli, "exp", {})
    code, err = _stopped(cli, ("run", *options, "exp", *_saver(tmp_path)), signal.SIGHUP, tmp_path / "saver.pid")
    assert code == 128 + signal.SIGHUP, err
    assert (tmp_path / "flag").read_text() == "SIGTERM"
    job = _jobs(cli, "exp")[job_id]
    assert (job.status, job.results) == ("CRASHED", {"loss": 0.123})
    assert "interrupted (SIGHUP)" in err


#: Prints ``started``, writes its pid (its process group's id) to $1, then logs to a file only and
#: ignores SIGINT and SIGTERM while it sleeps.
QUIET = r"""#!/bin/bash
echo $$ > "$1"
trap '' INT TERM
echo started
exec > /dev/null 2>&1
sleep 600
"""


def _quiet(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "quiet.sh"
    path.write_text(QUIET)
    path.chmod(0o755)
    return str(path), tmp_path / "group.pid"


def _kill_group(pidfile: Path) -> None:
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


def _group_gone(pidfile: Path, timeout: float = 30.0) -> bool:
    """Whether the process group whose id is in ``pidfile`` is empty (waiting up to ``timeout`` for it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(int(pidfile.read_text()), 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_kill_after_holds_for_a_command_that_closed_its_output(cli, tmp_path):
    """It sleeps 600 s and ignores the interrupt: killed after --kill-after, not waited for."""
    command, pidfile = _quiet(tmp_path)
    (job_id,) = _queue(cli, "exp", {})
    try:
        code, err = _stopped(cli, ("run", "--kill-after", "1", "exp", command, str(pidfile)), signal.SIGINT, pidfile)
        assert code == 130, err
        assert "the command did not end within 1 s; killing it." in err
        assert _jobs(cli, "exp")[job_id].status == "CRASHED"
        assert _group_gone(pidfile)
    finally:
        _kill_group(pidfile)


def test_a_job_deleted_while_its_quiet_command_runs_is_stopped(cli, tmp_path):
    """The command printed nothing more once it closed its output: the refused heartbeats still stop it."""
    command, pidfile = _quiet(tmp_path)
    (job_id,) = _queue(cli, "exp", {})
    runner = cli.popen(
        "run", "--heartbeat", "1", "--kill-after", "1", "exp", command, str(pidfile),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _read_until(runner.stdout, b"started\n")
        with cli.db() as db:
            db.get_experiment("exp").get_job(job_id).delete()
        _, err = runner.communicate(timeout=90)
        assert runner.returncode == 0, err
        assert f"job {job_id} LOST in " in err.decode()
        assert _group_gone(pidfile)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
        _kill_group(pidfile)


def test_max_time_spent_waiting_for_a_job_says_so(cli):
    """--wait is cut short by --max-time: that is why the worker ends, not an empty experiment."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("mt"))
        exp = db.get_experiment("mt")
        exp.add_job(hyperparameters={})
        exp.next_job()  # RUNNING elsewhere: the service holds the worker's claim, a retry may come
    started = time.monotonic()
    done = cli("run", "--max-time", "1", "--wait", "100", "mt", "true")
    assert time.monotonic() - started < 90  # not the whole --wait
    assert done.returncode == 0, done.stderr
    assert (
        done.stderr.splitlines()[-1] == "schedy run: --max-time 1 s has passed: no new job claimed. 0 done, 0 crashed."
    )
