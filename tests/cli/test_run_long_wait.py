"""``schedy run --wait`` longer than the service's cap on one long poll (60 s): the real worker, the real service.

docs/artifacts.md's preemptible workers (SLURM, Kubernetes) wait 300 s for work; the service refuses a single
poll that long (422), so the runner waits in several. How the wait is split is pinned by
tests/client/test_long_waits.py (the runner waits as ``Experiment.next_job`` does).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

import schedy
from tests.cli.test_run import _jobs

# The job's command: prints its results.
COMMAND = r"""
import json, sys
print("--- RESULTS ---")
print(json.dumps({"loss": 0.25, "argv": sys.argv[1:]}))
"""


def _until(what, timeout: float = 120.0):
    """Poll ``what()`` until it is true (a bound, not a measurement); return its value."""
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


@pytest.mark.parametrize("parallel", [[], ["-j", "2"]], ids=["lone", "pool"])
def test_the_documented_preemptible_worker_waits_for_work_past_the_services_cap(cli, tmp_path, parallel):
    command = tmp_path / "train.py"
    command.write_text(COMMAND)
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("mnist"))
    # docs/artifacts.md's SLURM line, with nothing to do yet.
    runner = cli.popen(
        "run", "--heartbeat", "20", "--wait", "300", "--requeue-on-interrupt", "--worker", "slurm-1-0",
        "--max-time", "72000", *parallel, "mnist", sys.executable, str(command), "%h",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(1)  # the worker is waiting (if not yet, it finds the job at its first claim)
        with cli.db() as db:
            job_id = db.get_experiment("mnist").add_job(hyperparameters={"lr": 0.1}).job_id
        _until(lambda: runner.poll() is not None or _jobs(cli, "mnist")[job_id].status == schedy.Job.DONE)
        assert runner.poll() is None, runner.stderr.read().decode()  # still waiting for the next job
        with cli.db() as db:  # the search is over: the waiting worker stops
            exp = db.get_experiment("mnist")
            exp.status = exp.DONE
            exp.push_updates()
        code = runner.wait(120)
        err = runner.stderr.read().decode()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        runner.stderr.close()
    assert code == 0, err
    assert "422" not in err
    assert "no job left in 'mnist'" in err
    job = _jobs(cli, "mnist")[job_id]
    assert job.results["argv"] == ["--lr", "0.1"]
    assert job.worker.startswith("slurm-1-0")


def test_sigterm_ends_a_worker_in_a_long_wait(cli):
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("idle"))
    controller, terminal = pty.openpty()  # its progress line, drawn before it claims, says it is running
    runner = cli.popen("run", "--wait", "3600", "idle", "true", stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        seen = b""
        while b"schedy run idle" not in seen:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, f"no progress line: {seen!r}"
            seen += os.read(controller, 4096)
        time.sleep(0.5)  # into its first poll
        runner.send_signal(signal.SIGTERM)
        code = runner.wait(60)
        err = runner.stderr.read().decode()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        runner.stderr.close()
        os.close(controller)
    assert code == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM) while no job was running." in err
    assert "Traceback" not in err
