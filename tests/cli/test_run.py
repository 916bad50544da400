"""``schedy run``: a real worker process, a real command per job, the real service."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

import schedy

# The command the runner runs. Its behaviour comes from the job's
# hyperparameters (through %h): --mode ok|fail|silent|unmarked|bad|two|sleep.
WORKER = r"""
import json, pathlib, sys, time
argv = sys.argv[1:]
def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default
mode = opt("--mode", "ok")
print("worker argv " + json.dumps(argv), flush=True)
print("worker stderr line", file=sys.stderr, flush=True)
if mode == "sleep":
    try:
        print("started", flush=True)
        time.sleep(float(opt("--seconds", "60")))
    except KeyboardInterrupt:
        pathlib.Path(opt("--flag")).write_text("SIGINT")
        sys.exit(1)
if mode == "fail":
    sys.exit(3)
if mode == "silent":
    sys.exit(0)
if mode == "unmarked":
    print(json.dumps({"loss": 0.25}))
    sys.exit(0)
if mode == "bad":
    print("--- RESULTS ---\n[1, 2]")
    sys.exit(0)
if mode == "two":
    print('--- RESULTS ---\n{"loss": 1}\n--- END RESULTS ---\nmore output\n--- RESULTS ---\n{"loss": 2, "x": NaN}')
    sys.exit(0)
print("--- RESULTS ---")
print(json.dumps({"argv": argv, "loss": float(opt("--loss", "0.5"))}))
print("--- END RESULTS ---")
print("after the block")
"""


@pytest.fixture
def worker(tmp_path):
    """The path of the test command."""
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return str(path)


def _queue(cli, name, *hyperparameters):
    """A manual experiment with these jobs queued; returns their ids."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch(name))
        exp = db.get_experiment(name)
        return [exp.add_job(hyperparameters=hps).job_id for hps in hyperparameters]


def _jobs(cli, name):
    with cli.db() as db:
        return {job.job_id: job for job in db.get_experiment(name).all_jobs()}


def test_runs_every_queued_job_and_records_its_results(cli, worker):
    ids = _queue(cli, "exp", {"mode": "ok", "loss": 0.25}, {"mode": "ok", "loss": 0.75})
    done = cli("run", "--minimize", "loss", "exp", sys.executable, worker, "%h", "--exp", "%e", "--job", "%j")
    assert done.returncode == 0, done.stderr
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == ["DONE", "DONE"]
    assert jobs[ids[0]].results == {
        "argv": ["--mode", "ok", "--loss", "0.25", "--exp", "exp", "--job", ids[0]],
        "loss": 0.25,
    }
    assert jobs[ids[1]].results["loss"] == 0.75
    # Not a terminal: standard output is exactly the command's, nothing added.
    expected = "".join(
        f"worker argv {json.dumps(jobs[i].results['argv'])}\n--- RESULTS ---\n"
        f"{json.dumps(jobs[i].results)}\n--- END RESULTS ---\nafter the block\n"
        for i in ids
    )
    assert done.stdout == expected
    assert done.stderr.count("worker stderr line\n") == 2
    assert f"schedy run: job {ids[0]} DONE in " in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"schedy run: no job left in 'exp'. 2 done, 0 crashed; best loss 0.25 (job {ids[0]})."
    )


def test_the_command_finds_its_job_through_the_runners_own_configuration(cli, tmp_path):
    """``schedy --config FILE run``: the command's schedy.SchedyDB() reaches the same service, no client.json."""
    script = tmp_path / "own_job.py"
    script.write_text(
        "import json, os, schedy\n"
        "job = schedy.SchedyDB().get_experiment(os.environ['SCHEDY_EXPERIMENT']).get_job(os.environ['SCHEDY_JOB_ID'])\n"
        "print('--- RESULTS ---')\n"
        "print(json.dumps({'x': job.hyperparameters['x'], 'attempt': int(os.environ['SCHEDY_ATTEMPT'])}))\n"
    )
    (job_id,) = _queue(cli, "own", {"x": 7})
    assert not (cli.home / ".schedy" / "client.json").exists()
    done = cli("run", "own", sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    assert _jobs(cli, "own")[job_id].results == {"x": 7, "attempt": 1}


def test_placeholders_expand_hyperparameters_as_options(cli, worker):
    hps = {"learning_rate": 0.001, "dropout": None, "sizes": [64, 32], "act": "relu", "bn": True}
    (job_id,) = _queue(cli, "exp", hps)
    cli.ok("run", "exp", sys.executable, worker, "%h", "100%%", "tag=%e/%j", "%x")
    argv = _jobs(cli, "exp")[job_id].results["argv"]
    assert argv == [
        "--learning-rate", "0.001", "--sizes", "[64, 32]", "--act", "relu", "--bn", "true",
        "100%", f"tag=exp/{job_id}", "%x",
    ]  # fmt: skip


def test_a_named_placeholder_is_one_hyperparameters_value(cli, worker):
    """``--lr=%{lr}``: for scripts whose options are not spelled as %h writes them; a typo stops at start."""
    with cli.db() as db:
        space = {"lr": schedy.random.LogUniform(1e-4, 1e-1), "optimizer": schedy.random.Choice(["sgd", "adam"])}
        db.add_experiment(schedy.RandomSearch("named", space, max_jobs=2))
    done = cli("run", "named", sys.executable, worker, "--learning-rate=%{lr}", "%{optimizer}", "--mode", "ok")
    assert done.returncode == 0, done.stderr
    assert "not a placeholder" not in done.stderr
    jobs = _jobs(cli, "named").values()
    assert len(jobs) == 2
    for job in jobs:
        lr, optimizer = job.hyperparameters["lr"], job.hyperparameters["optimizer"]
        assert job.results["argv"] == [f"--learning-rate={json.dumps(lr)}", optimizer, "--mode", "ok"]

    typo = cli("run", "named", sys.executable, worker, "--lr", "%{learning_rate}")
    assert typo.returncode == 2
    assert typo.stderr.strip().endswith(
        "%{learning_rate} names no hyperparameter of 'named' (lr, optimizer); no job was claimed."
    )
    assert len(_jobs(cli, "named")) == 2


def test_a_mistyped_placeholder_is_shown_once_at_start(cli, worker):
    (job_id,) = _queue(cli, "exp", {"mode": "ok"})
    done = cli("run", "exp", sys.executable, worker, "%h", "--x", "%x", "--y=%x", "100%%")
    assert done.returncode == 0, done.stderr
    warning = "schedy run: '%x' in the command is not a placeholder (%e, %j, %h, %{NAME}, %%): passed as it is."
    assert done.stderr.splitlines()[0] == warning
    assert done.stderr.count("not a placeholder") == 1
    assert _jobs(cli, "exp")[job_id].results["argv"] == ["--mode", "ok", "--x", "%x", "--y=%x", "100%"]


def test_a_failing_command_crashes_its_job_and_stops_the_worker(cli, worker):
    ids = _queue(cli, "exp", {"mode": "fail"}, {"mode": "ok"})
    done = cli("run", "exp", sys.executable, worker, "%h")
    assert done.returncode == 1
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == ["CRASHED", "QUEUED"]
    assert f"job {ids[0]} CRASHED in " in done.stderr
    assert "the command exited with status 3" in done.stderr
    assert "stopped after job" in done.stderr


def test_ignore_errors_goes_on_and_bad_results_crash(cli, worker):
    ids = _queue(cli, "exp", {"mode": "fail"}, {"mode": "silent"}, {"mode": "bad"}, {"mode": "two"}, {"mode": "ok"})
    done = cli("run", "--ignore-errors", "exp", sys.executable, worker, "%h")
    assert done.returncode == 0, done.stderr
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == ["CRASHED", "CRASHED", "CRASHED", "DONE", "DONE"]
    assert "printed no '--- RESULTS ---' block (see --allow-empty-results)" in done.stderr
    assert "the --- RESULTS --- block must be a JSON object, got list" in done.stderr
    last_block = jobs[ids[3]].results  # the last block counts, even without its end line
    assert last_block["loss"] == 2
    assert last_block["x"] != last_block["x"]  # NaN kept
    assert "3 crashed" in done.stderr.splitlines()[-1]


def test_results_printed_without_their_marker_line_say_how_to_mark_them(cli, worker):
    (job_id,) = _queue(cli, "exp", {"mode": "unmarked"})
    done = cli("run", "exp", sys.executable, worker, "%h")
    assert done.returncode == 1
    assert _jobs(cli, "exp")[job_id].status == "CRASHED"
    assert (
        "printed no '--- RESULTS ---' block; its last line is a JSON object: "
        "print a '--- RESULTS ---' line before it for it to be the job's results"
    ) in done.stderr


def test_allow_empty_results_makes_a_silent_job_done(cli, worker):
    (job_id,) = _queue(cli, "exp", {"mode": "silent"})
    cli.ok("run", "--allow-empty-results", "exp", sys.executable, worker, "%h")
    assert _jobs(cli, "exp")[job_id].status == "DONE"


def test_once_and_max_jobs_limit_the_jobs_run(cli, worker):
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("random", {"mode": schedy.random.Constant("ok")}))
    once = cli("run", "--once", "random", sys.executable, worker, "%h")
    assert once.returncode == 0, once.stderr
    assert once.stderr.splitlines()[-1] == "schedy run: ran 1 job. 1 done, 0 crashed."
    cli.ok("run", "-n", "2", "random", sys.executable, worker, "%h")
    assert [job.status for job in _jobs(cli, "random").values()] == ["DONE"] * 3


def test_the_commands_options_that_shorten_runs_own_reach_the_command(cli, worker):
    """``--max 3`` (momentum, width, hidden size...): the command's, never an ambiguous abbreviation of run's."""
    (job_id,) = _queue(cli, "abbrev", {})
    cli.ok("run", "--once", "abbrev", sys.executable, worker, "--max", "3", "--m=1", "--h", "--w", "2", "--mini")
    assert _jobs(cli, "abbrev")[job_id].results["argv"] == ["--max", "3", "--m=1", "--h", "--w", "2", "--mini"]


def test_options_after_the_experiment_name_are_taken_when_ended_by_two_dashes(cli, worker):
    """``schedy run EXP -n 2 -- CMD``, as people write it: before, ``-n`` was run as the command."""
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("after", {"mode": schedy.random.Constant("ok")}))
    done = cli("run", "after", "-n", "2", "--minimize", "loss", "--", sys.executable, worker, "%h")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1].startswith("schedy run: ran 2 jobs. 2 done, 0 crashed; best loss 0.5")
    assert [job.status for job in _jobs(cli, "after").values()] == ["DONE"] * 2
    # Without the dashes the option would be the command: refused before any job is claimed, saying where it goes.
    refused = cli("run", "after", "--once", sys.executable, worker, "%h")
    assert refused.returncode == 2
    assert refused.stderr == (
        "schedy: '--once' is an option of schedy run, but after the experiment's name the command begins: "
        "put it before the name (schedy run --once after COMMAND), or end the options with -- "
        "(schedy run after --once -- COMMAND).\n"
    )
    assert len(_jobs(cli, "after")) == 2


def test_max_time_claims_no_new_job_after_it_and_lets_the_running_one_finish(cli, worker, tmp_path):
    space = {"mode": "sleep", "seconds": 2, "flag": str(tmp_path / "flag")}
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("timed", {k: schedy.random.Constant(v) for k, v in space.items()}))
    done = cli("run", "--max-time", "1", "timed", sys.executable, worker, "%h")
    assert done.returncode == 0, done.stderr
    # The job claimed at once ran its 2 s past the deadline, then no other was claimed.
    assert [job.status for job in _jobs(cli, "timed").values()] == ["DONE"]
    last = done.stderr.splitlines()[-1]
    assert last == "schedy run: --max-time 1 s has passed: no new job claimed. 1 done, 0 crashed."
    refused = cli("run", "--max-time", "0", "timed", sys.executable, worker)
    assert refused.returncode == 2
    assert "argument --max-time: must be a positive number of seconds, got 0" in refused.stderr


def test_heartbeats_keep_a_long_job_alive(cli, worker, tmp_path):
    # A lease is three heartbeats (1.5 s, so a beat may come 1 s late on a loaded
    # machine); the job runs for 4 s, over a lease and two sweeps (1 s apart), so
    # only heartbeats keep the service from ending it (tests/server/api/test_leases.py
    # pins that a lease without heartbeats lapses).
    (job_id,) = _queue(cli, "exp", {"mode": "sleep", "seconds": 4, "flag": str(tmp_path / "flag")})
    done = cli("run", "--heartbeat", "0.5", "--worker", "test-worker", "exp", sys.executable, worker, "%h")
    assert done.returncode == 0, done.stderr
    job = _jobs(cli, "exp")[job_id]
    assert (job.status, job.worker, job.end_reason) == ("DONE", "test-worker", "reported")


def _read_until(stream, marker: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"EOF before {marker!r} in {seen!r}"
            seen += chunk
    return seen


def interrupted(cli, args: tuple[str, ...], ready: Callable[[subprocess.Popen[bytes]], object]) -> tuple[int, str]:
    """Start ``schedy ARGS``, wait until ``ready(process)`` returns, send SIGINT; its exit status and stderr."""
    runner = cli.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready(runner)
        os.kill(runner.pid, signal.SIGINT)
        code = runner.wait(60)
        err = runner.stderr.read().decode()
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.stdout.close()
        runner.stderr.close()
    return code, err


@pytest.mark.parametrize(("flag", "status"), [([], "CRASHED"), (["--requeue-on-interrupt"], "QUEUED")])
def test_ctrl_c_interrupts_the_command_ends_the_job_and_exits_130(cli, worker, tmp_path, flag, status):
    marker = tmp_path / "interrupted"
    ids = _queue(cli, "exp", {"mode": "sleep", "seconds": 60, "flag": str(marker)}, {"mode": "ok"})
    started = lambda runner: _read_until(runner.stdout, b"started\n")  # noqa: E731 - one line, named for reading
    code, err = interrupted(cli, ("run", *flag, "exp", sys.executable, worker, "%h"), started)
    assert code == 130, err
    assert marker.read_text() == "SIGINT"  # the command got the interrupt, once, and could clean up
    jobs = _jobs(cli, "exp")
    assert [jobs[i].status for i in ids] == [status, "QUEUED"]  # and no further job was started
    assert "Traceback" not in err
    what = "queued again" if status == "QUEUED" else "marked CRASHED"
    assert f"schedy run: interrupted (SIGINT): job {ids[0]} {what}." in err


def on_a_terminal(cli, *args: str) -> str:
    """Run ``schedy ARGS`` with its standard output on a terminal (80 columns) to its end; what it drew there."""
    controller, terminal = pty.openpty()
    runner = cli.popen(*args, stdout=terminal, stderr=subprocess.DEVNULL)
    os.close(terminal)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, f"the runner went quiet: {seen!r}"
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            seen += chunk
        assert runner.wait(30) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
        os.close(controller)
    return seen.decode()


def test_progress_line_on_a_terminal(cli, worker):
    _queue(cli, "exp", {"mode": "ok", "loss": 0.5}, {"mode": "ok", "loss": 0.125})
    text = on_a_terminal(cli, "run", "--minimize", "loss", "exp", sys.executable, worker, "%h")
    assert "\r\x1b[K" in text  # the line is erased before output, and redrawn
    assert "schedy run exp · 0 done · 0 crashed · no loss yet · job " in text
    assert "schedy run exp · 1 done · 0 crashed · best loss 0.5 (job " in text
    assert text.count("after the block") == 2
    assert text.endswith("\r\x1b[K")  # erased at the end: nothing left behind


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("/nonexistent/train", "The command '/nonexistent/train' does not exist; no job was claimed."),
        ("no-such-program-xyz", "The command 'no-such-program-xyz' is not on your PATH; no job was claimed."),
        ("not-executable", "is not executable (chmod +x it); no job was claimed."),
    ],
)
def test_a_command_that_cannot_start_is_refused_before_claiming_a_job(cli, tmp_path, program, message):
    (job_id,) = _queue(cli, "exp", {})
    if program == "not-executable":
        script = tmp_path / "train.sh"
        script.write_text("#!/bin/sh\necho hi\n")
        program = str(script)
    done = cli("run", "--ignore-errors", "exp", program)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("schedy: ")
    assert message in done.stderr
    assert _jobs(cli, "exp")[job_id].status == "QUEUED"  # nothing claimed, nothing crashed


def test_ignore_errors_with_every_job_crashed_exits_non_zero(cli, worker):
    """--ignore-errors goes on after a crash, but a run where nothing succeeded is a failure for scripts."""
    _queue(cli, "exp", {"mode": "fail"}, {"mode": "fail"})
    done = cli("run", "--ignore-errors", "exp", sys.executable, worker, "%h")
    assert done.returncode == 1, done.stderr
    assert [j.status for j in _jobs(cli, "exp").values()] == ["CRASHED", "CRASHED"]
    assert "0 done, 2 crashed" in done.stderr.splitlines()[-1]


def test_nothing_to_do_is_not_an_error(cli, worker):
    _queue(cli, "empty")
    done = cli("run", "empty", sys.executable, worker)
    assert done.returncode == 0
    assert done.stderr == "schedy run: no job left in 'empty'. 0 done, 0 crashed.\n"
