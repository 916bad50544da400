"""``schedy run`` ends the command's whole process group: nothing it started outlives its job.

Each command here writes the pids of the processes it leaves behind to a file, so that a test can
check that none of them survives the runner (and kill any that does, so that a failing test leaves
no orphan behind).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cli.test_run import _jobs, _queue, _read_until

#: Leaves a process in the background that ignores SIGTERM and SIGINT, prints ``started``, then, as
#: told by $1: ``exit`` (results, status 0) or ``wait`` (sleeps until a signal ends it).
#: The background process writes its pid to $2 (``exec``: the pid is that of the sleep, which keeps the
#: ignored signals).
LEAVER = r"""#!/bin/bash
bash -c 'trap "" TERM INT; echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 778' "$2" &
sleep 779 > /dev/null 2>&1 &
echo $! > "$2.quiet"
while [ ! -s "$2" ]; do sleep 0.05; done
echo started
if [ "$1" = exit ]; then
    echo '--- RESULTS ---'
    echo '{"loss": 0.25}'
    exit 0
fi
sleep 600
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it holds no memory and no pipe (and init reaps it).
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    return True


def _gone(pid: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _pids(pidfile: Path) -> list[int]:
    return [int(path.read_text()) for path in (pidfile, pidfile.with_name(pidfile.name + ".quiet")) if path.exists()]


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _leaver(tmp_path: Path) -> str:
    path = tmp_path / "leaver.sh"
    path.write_text(LEAVER)
    path.chmod(0o755)
    return str(path)


def test_processes_a_done_job_left_in_the_background_are_ended_with_it(cli, tmp_path):
    pidfile = tmp_path / "left.pid"
    (job_id,) = _queue(cli, "exp", {})
    try:
        done = cli("run", "--kill-after", "1", "exp", _leaver(tmp_path), "exit", str(pidfile))
        pids = _pids(pidfile)
        assert len(pids) == 2
        assert done.returncode == 0, done.stderr
        job = _jobs(cli, "exp")[job_id]
        assert (job.status, job.results) == ("DONE", {"loss": 0.25})
        assert (
            "the command exited, leaving processes in its process group: stopping them (SIGTERM, SIGKILL after 1 s)."
            in done.stderr
        )
        # The one that ignored SIGTERM got SIGKILL; the quiet one (not holding the pipes) SIGTERM.
        assert all(_gone(pid) for pid in pids), done.stderr
    finally:
        _kill(_pids(pidfile))


def test_an_interrupted_commands_child_that_ignores_sigterm_is_killed_too(cli, tmp_path):
    """The command dies of the SIGTERM passed on; its child, in its group, ignores it: SIGKILL after --kill-after."""
    pidfile = tmp_path / "left.pid"
    (job_id,) = _queue(cli, "exp", {})
    runner = cli.popen(
        "run", "--kill-after", "1", "exp", _leaver(tmp_path), "wait", str(pidfile), stdout=subprocess.PIPE
    )
    try:
        _read_until(runner.stdout, b"started\n")
        os.kill(runner.pid, signal.SIGTERM)
        assert runner.wait(60) == 128 + signal.SIGTERM
        pids = _pids(pidfile)
        assert len(pids) == 2
        assert all(_gone(pid) for pid in pids)
        assert _jobs(cli, "exp")[job_id].status == "CRASHED"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        runner.stdout.close()
        _kill(_pids(pidfile))
