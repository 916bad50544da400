"""``schedy run`` with early stopping: report lines from the command, SIGTERM then SIGKILL when stopped, PRUNED."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import schedy
from schedy.stopping import ASHA

# Reports one loss per step (--loss, for 30 steps, one every 0.05 s), then prints its results.
# --on-term: "exit" ends at SIGTERM (writing a flag), "ignore" keeps going until killed.
TRAIN = r"""
import json, pathlib, signal, sys, time
argv = sys.argv[1:]
def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default
flag = pathlib.Path(opt("--flag"))
def on_term(signum, frame):
    flag.write_text("SIGTERM")
    if opt("--on-term") == "exit":
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
loss = float(opt("--loss"))
print("--- REPORT --- not json", flush=True)
for step in range(30):
    print("--- REPORT --- " + json.dumps({"step": step, "loss": loss, "lr": None}), flush=True)
    time.sleep(0.05)
print("--- RESULTS ---\n" + json.dumps({"loss": loss}))
"""


@pytest.fixture
def train(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(TRAIN)
    return str(path)


def _pruning_experiment(cli, name: str, *losses: float) -> list[str]:
    """A manual search under ASHA (η = 2 from step 1) whose leader reported loss 0 at every step; queued jobs."""
    with cli.db() as db:
        exp = schedy.ManualSearch(name, early_stopping=ASHA("loss", "min", min_step=1, reduction_factor=2))
        db.add_experiment(exp)
        leader = exp.add_job(hyperparameters={"leader": True})
        with leader:
            for step in range(40):
                leader.report(step, loss=0.0)
        return [exp.add_job(hyperparameters={"loss": loss}).job_id for loss in losses]


@pytest.mark.parametrize("on_term", ["exit", "ignore"])
def test_a_command_the_service_stops_gets_sigterm_then_sigkill_and_its_job_ends_pruned(cli, train, tmp_path, on_term):
    (bad, good) = _pruning_experiment(cli, f"stopped-{on_term}", 5.0, -1.0)
    flag = tmp_path / "flag"
    started = time.monotonic()
    done = cli(
        "run", "--kill-after", "1", f"stopped-{on_term}",
        sys.executable, train, "%h", "--flag", str(flag), "--on-term", on_term,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    with cli.db() as db:
        jobs = {job.job_id: job for job in db.get_experiment(f"stopped-{on_term}").all_jobs()}
        reports = jobs[bad].reports()
    assert jobs[bad].status == "PRUNED"
    # It printed no results: its loss is the one it last reported (a search ranks the stopped job by it).
    assert jobs[bad].results == {"loss": 5.0}
    assert jobs[good].status == "DONE"  # the loop went on, and a better job was not stopped
    assert jobs[good].results["loss"] == -1.0
    assert flag.read_text() == "SIGTERM"  # the command was told first
    assert [r["step"] for r in reports][:2] == [0, 1]
    assert reports[-1]["step"] < 29  # stopped early, not run to its end
    assert reports[0]["metrics"] == {"loss": 5.0, "lr": None}
    assert f"the service stopped job {bad} at step " in done.stderr
    assert "ignored a report: a --- REPORT --- line must carry a JSON object" in done.stderr
    assert f"job {bad} PRUNED in " in done.stderr
    # Why, in the policy's words: the line ends with the reason the service keeps on the job.
    (ended,) = [line for line in done.stderr.splitlines() if f"job {bad} PRUNED in " in line]
    assert jobs[bad].stop_reason is not None
    assert "At rung" in jobs[bad].stop_reason
    assert ended.endswith(f"stopped by the service at step {reports[-1]['step']}: {jobs[bad].stop_reason}")
    # The summary ranks by the policy's metric and direction (no --minimize given).
    assert done.stderr.splitlines()[-1].endswith(f"1 done, 0 crashed, 1 pruned; best loss -1 (job {good}).")
    if on_term == "ignore":
        assert "did not end within 1 s; killing it." in done.stderr
        assert elapsed > 1.0  # the grace period was given
    else:
        assert "killing it" not in done.stderr


def test_report_lines_without_a_policy_are_stored_and_the_job_runs_to_its_end(cli, train, tmp_path):
    with cli.db() as db:
        exp = schedy.ManualSearch("plain")
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={"loss": 2.0}).job_id
    done = cli("run", "plain", sys.executable, train, "%h", "--flag", str(tmp_path / "flag"), "--on-term", "exit")
    assert done.returncode == 0, done.stderr
    with cli.db() as db:
        job = db.get_experiment("plain").get_job(job_id)
        reports = job.reports()
    assert job.status == "DONE"
    assert [r["step"] for r in reports] == list(range(30))
    assert not (tmp_path / "flag").exists()


def test_the_report_line_run_help_shows_is_one_the_runner_sends(cli, tmp_path):
    """``schedy run --help`` tells the report line's form; printed by a command, that very line becomes a report."""
    shown = cli.ok("run", "--help")
    line = re.search(r"'(--- REPORT --- \{.*?\})'", shown).group(1)
    script = tmp_path / "one_report.py"
    script.write_text(f"print({line!r})\nprint('--- RESULTS ---')\nprint('{{\"loss\": 0.25}}')\n")
    with cli.db() as db:
        exp = schedy.ManualSearch("from-help")
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={}).job_id
    cli.ok("run", "--once", "from-help", sys.executable, str(script))
    with cli.db() as db:
        reports = db.get_experiment("from-help").get_job(job_id).reports()
    assert [(r["step"], r["metrics"]) for r in reports] == [(3, {"loss": 0.25})]


# Reports step 0, then waits for --go (up to 60 s) if --wait is true, then reports a step every 0.05 s
# (with --report true) for 10 s and prints its results; at SIGTERM it writes --flag and exits.
WAITER = r"""
import json, pathlib, signal, sys, time
argv = sys.argv[1:]
def opt(name):
    return argv[argv.index(name) + 1]
flag, go = pathlib.Path(opt("--flag")), pathlib.Path(opt("--go"))
def on_term(signum, frame):
    flag.write_text("SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
reporting = opt("--report") == "true"
if reporting:
    print("--- REPORT --- " + json.dumps({"step": 0, "loss": 1.0}), flush=True)
deadline = time.monotonic() + 60
while opt("--wait") == "true" and not go.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
for step in range(1, 200 if reporting else 0):
    print("--- REPORT --- " + json.dumps({"step": step, "loss": 1.0}), flush=True)
    time.sleep(0.05)
print("--- RESULTS ---\n" + json.dumps({"loss": 1.0}))
"""


def _until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _waiting_worker(cli, tmp_path, *options: str) -> subprocess.Popen[bytes]:
    """``schedy run OPTIONS… python WAITER %h --flag FLAG --go GO`` in the background, its output piped."""
    waiter = tmp_path / "waiter.py"
    waiter.write_text(WAITER)
    command = (sys.executable, str(waiter), "%h", "--flag", str(tmp_path / "flag"), "--go", str(tmp_path / "go"))
    return cli.popen("run", *options, *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_deleted_experiment_stops_the_running_command_and_ends_the_worker(cli, tmp_path):
    flag, go = tmp_path / "flag", tmp_path / "go"
    with cli.db() as db:
        exp = schedy.ManualSearch("deleted-under-it")
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={"wait": True, "report": True}).job_id
        worker = _waiting_worker(cli, tmp_path, "deleted-under-it")
        _until(lambda: exp.get_job(job_id).reports() != [])
        exp.delete()
    go.touch()  # the command reports again: the service answers 404
    out, err = (stream.decode() for stream in worker.communicate(timeout=90))
    assert worker.returncode == 0, err
    assert f"job {job_id} is no longer this worker's (Experiment 'deleted-under-it' does not exist)" in err
    assert f"job {job_id} LOST in " in err
    assert err.splitlines()[-1].endswith("experiment 'deleted-under-it' was deleted. 0 done, 0 crashed, 1 lost.")
    assert "was refused" not in err  # stopped at the first refusal, not reporting on
    assert flag.read_text() == "SIGTERM"
    assert "--- RESULTS ---" not in out


def _delete_the_first_of_two_jobs(db, cli, tmp_path, *run_args: str):
    """A manual search (the last of ``run_args``) of a waiting job and a quick one; a worker; the first deleted.

    Returns the experiment, the two jobs and the worker, which has the second job still to run.
    """
    exp = schedy.ManualSearch(run_args[-1])
    db.add_experiment(exp)
    first = exp.add_job(hyperparameters={"wait": True, "report": False})
    second = exp.add_job(hyperparameters={"wait": False, "report": False})
    worker = _waiting_worker(cli, tmp_path, *run_args)
    _until(lambda: exp.get_job(first.job_id).status == "RUNNING")
    exp.get_job(first.job_id).delete()
    return exp, first, second, worker


def test_a_job_deleted_while_its_command_runs_is_lost_and_the_worker_goes_on(cli, tmp_path):
    """No report to refuse: the next heartbeat learns it, and the next job runs."""
    with cli.db() as db:
        exp, first, second, worker = _delete_the_first_of_two_jobs(db, cli, tmp_path, "--heartbeat", "1", "job-deleted")
        out, err = (stream.decode() for stream in worker.communicate(timeout=90))
        assert exp.get_job(second.job_id).status == "DONE"
    assert worker.returncode == 0, err
    assert f"job {first.job_id} is no longer this worker's (Job '{first.job_id}' does not exist" in err
    assert f"job {first.job_id} LOST in " in err
    assert f"job {second.job_id} DONE in " in err
    assert err.splitlines()[-1].endswith("no job left in 'job-deleted'. 1 done, 0 crashed, 1 lost.")
    assert (tmp_path / "flag").read_text() == "SIGTERM"
    assert out.count("--- RESULTS ---") == 1  # the second job's only


def test_a_job_deleted_just_before_its_command_ends_is_lost_not_done(cli, tmp_path):
    """Nothing noticed it while the command ran (no report, no heartbeat due): its final update is refused."""
    with cli.db() as db:
        exp, first, second, worker = _delete_the_first_of_two_jobs(
            db, cli, tmp_path, "deleted-at-the-end"
        )  # beats: 30 s
        (tmp_path / "go").touch()
        out, err = (stream.decode() for stream in worker.communicate(timeout=90))
        assert [job.job_id for job in exp.all_jobs()] == [second.job_id]
        assert exp.get_job(second.job_id).status == "DONE"
    assert worker.returncode == 0, err
    assert f"job {first.job_id} LOST in " in err
    assert f"not saved: Job '{first.job_id}' of experiment 'deleted-at-the-end' was deleted" in err
    assert f"job {second.job_id} DONE in " in err
    assert err.splitlines()[-1].endswith("no job left in 'deleted-at-the-end'. 1 done, 0 crashed, 1 lost.")
    assert out.count("--- RESULTS ---") == 2  # the first command ran to its end: nothing stopped it


def test_a_flood_of_report_lines_arrives_whole_and_in_order(cli, tmp_path):
    # Lines read together are sent together (1,000 per request): 3,000 reports printed at once, every one kept.
    script = tmp_path / "flood.py"
    script.write_text(
        "import json, sys\n"
        "sys.stdout.write(''.join('--- REPORT --- ' + json.dumps({'step': s, 'loss': 1 / (s + 1)}) + '\\n'"
        " for s in range(3000)))\n"
        "print('--- RESULTS ---'); print(json.dumps({'loss': 0.5}))\n"
    )
    with cli.db() as db:
        exp = schedy.ManualSearch("flood")
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={}).job_id
    done = cli("run", "--once", "flood", sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    with cli.db() as db:
        job = db.get_experiment("flood").get_job(job_id)
        reports = job.reports()
    assert job.status == "DONE"
    assert [r["step"] for r in reports] == list(range(3000))
    assert reports[2999]["metrics"] == {"loss": 1 / 3000}


# Waits for --go (up to 60 s), then prints its results; at SIGTERM it prints other results and exits 0,
# as a command that saves what it has on the way out does.
SAVES_ON_TERM = r"""
import json, pathlib, signal, sys, time
go = pathlib.Path(sys.argv[1])
def on_term(signum, frame):
    print("--- RESULTS ---\n" + json.dumps({"loss": 9.0}), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("--- RESULTS ---\n" + json.dumps({"loss": 1.0}))
"""


def test_a_command_stopped_when_its_lease_lapsed_is_lost_even_if_it_exits_cleanly(cli, tmp_path):
    """A frozen runner (no heartbeat for longer than a lease): its cut-short command is no finished run.

    The service keeps a result sent after a lease lapsed only for a job that ran to its end; the command
    here was stopped half-way and exited 0 with what it had, so it must not pass for DONE and withdraw
    the retry that will run the job whole.
    """
    script = tmp_path / "saves_on_term.py"
    script.write_text(SAVES_ON_TERM)
    with cli.db() as db:
        exp = schedy.ManualSearch("frozen", max_retries=1)
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={}).job_id
        worker = cli.popen(
            "run", "--once", "--heartbeat", "0.2", "frozen", sys.executable, str(script), str(tmp_path / "go"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _until(lambda: exp.get_job(job_id).status == "RUNNING")
        os.kill(worker.pid, signal.SIGSTOP)  # a frozen host: no heartbeat for longer than a lease
        try:
            _until(lambda: exp.get_job(job_id).status == "CRASHED")
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        out, err = (stream.decode() for stream in worker.communicate(timeout=90))
        jobs = list(exp.all_jobs())
    assert worker.returncode == 0, err
    assert f"job {job_id} is no longer this worker's" in err
    assert f"job {job_id} LOST in " in err
    assert '{"loss": 9.0}' in out  # what the command printed on its way out was not taken as the job's result
    assert [(j.job_id == job_id, j.status, j.attempt) for j in jobs] == [(True, "CRASHED", 1), (False, "QUEUED", 2)]
