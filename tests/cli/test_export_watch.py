"""``schedy export`` and ``schedy watch`` against the real service."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import select
import signal
import subprocess
import time

import pytest

import schedy
from schedy import pbt
from schedy.stopping import ASHA


@pytest.fixture
def jobs(cli):
    """An experiment with varied jobs; returns their ids in order."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("exp"))
        exp = db.get_experiment("exp")
        added = [
            exp.add_job(hyperparameters={"lr": 0.1, "sizes": [64, 32]}, results={"loss": 0.5}, status="DONE"),
            exp.add_job(hyperparameters={"lr": 0.2, "act": "relu, or not"}, results={"loss": math.nan}, status="DONE"),
            exp.add_job(hyperparameters={"lr": 0.3}),
        ]
        return [job.job_id for job in added]


def test_export_csv_has_one_row_per_job_and_a_column_per_name(cli, jobs):
    rows = list(csv.DictReader(io.StringIO(cli.ok("export", "exp"))))
    assert list(rows[0])[:6] == [
        "id", "status", "hyperparameters.lr", "hyperparameters.sizes", "hyperparameters.act", "results.loss",
    ]  # fmt: skip
    assert "created_at" in rows[0]
    assert [row["id"] for row in rows] == jobs
    assert [row["status"] for row in rows] == ["DONE", "DONE", "QUEUED"]
    assert [row["hyperparameters.lr"] for row in rows] == ["0.1", "0.2", "0.3"]
    assert rows[0]["hyperparameters.sizes"] == "[64, 32]"
    assert rows[1]["hyperparameters.act"] == "relu, or not"
    assert [row["results.loss"] for row in rows] == ["0.5", "nan", ""]
    assert rows[0]["created_at"].endswith("Z")


def test_export_json_is_the_wire_form(cli, jobs, tmp_path):
    target = tmp_path / "out.json"
    done = cli("export", "exp", "--format", "json", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == f"Exported 3 jobs of 'exp' to {target}.\n"
    exported = json.loads(target.read_text())
    assert [job["id"] for job in exported] == jobs
    assert exported[0]["hyperparameters"] == {"lr": 0.1, "sizes": [64, 32]}
    assert exported[0]["results"] == {"loss": 0.5}
    assert math.isnan(exported[1]["results"]["loss"])
    assert exported[2]["status"] == "QUEUED"
    assert exported[2]["results"] == {}
    assert {"createdAt", "updatedAt"} <= set(exported[0])


def test_export_of_an_empty_or_missing_experiment(cli, tmp_path):
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("empty"))
    assert cli.ok("export", "empty") == "id,status\n"
    assert json.loads(cli.ok("export", "empty", "--format", "json")) == []
    target = tmp_path / "never.csv"
    done = cli("export", "ghost", "-o", str(target))
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert not target.exists()


def test_watch_once_shows_counts_and_the_best_result(cli, jobs):
    line = cli.ok("watch", "--once", "--minimize", "loss", "exp")
    assert line.endswith(
        f"exp RUNNING · 1 queued · 0 running · 2 done · 0 crashed · 0 pruned · best loss 0.5 (job {jobs[0]})\n"
    )
    assert "best" not in cli.ok("watch", "--once", "exp")


def test_watch_uses_a_pbt_experiments_own_objective(cli):
    with cli.db() as db:
        db.add_experiment(schedy.PopulationBasedTraining("pbt", pbt.MAXIMIZE, "accuracy", pbt.Truncate()))
    assert cli.ok("watch", "--once", "pbt").endswith("· no accuracy yet\n")


def test_watch_and_run_use_a_tpe_searchs_objective_else_the_early_stopping_policys(cli):
    with cli.db() as db:
        space = {"x": schedy.random.Uniform(0, 1)}
        db.add_experiment(schedy.TPESearch("tpe", space, schedy.MAXIMIZE, "acc"))
        db.add_experiment(schedy.ManualSearch("stopped", early_stopping=ASHA("val_loss", "min")))
        stopped = db.get_experiment("stopped")
        for value in (0.7, 0.2, 0.9):
            stopped.add_job(hyperparameters={}, results={"val_loss": value}, status="DONE")
        best = min(stopped.all_jobs(), key=lambda job: job.results["val_loss"]).job_id
    assert cli.ok("watch", "--once", "tpe").endswith("· no acc yet\n")
    assert cli.ok("watch", "--once", "stopped").endswith(f"· best val_loss 0.2 (job {best})\n")
    # An option still wins over the experiment's own.
    assert "best val_loss 0.9" in cli.ok("watch", "--once", "--maximize", "val_loss", "stopped")


def test_watch_says_when_done_jobs_lack_the_searchs_result(cli):
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch("typo", {"x": schedy.random.Uniform(0, 1)}, schedy.MAXIMIZE, "acc"))
        exp = db.get_experiment("typo")
        for value in (0.7, 0.9):  # the workers call it "accuracy"
            exp.add_job(hyperparameters={"x": value}, results={"accuracy": value}, status="DONE")
    assert cli.ok("watch", "--once", "typo").endswith("· 2 done · 0 crashed · 0 pruned · no acc in 2 done jobs\n")


def test_watch_and_show_say_when_every_result_is_nan_or_infinite_not_that_it_is_missing(cli):
    """A training that diverged reports NaN: the result's name is right, and the line must not suggest a slip."""
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch("diverged", {"x": schedy.random.Uniform(0, 1)}, schedy.MINIMIZE, "loss"))
        exp = db.get_experiment("diverged")
        for value in (float("nan"), float("inf"), float("nan")):
            exp.add_job(hyperparameters={"x": 0.5}, results={"loss": value}, status="DONE")
        exp.add_job(hyperparameters={"x": 0.5}, results={"loss": 0.25}, status="PRUNED")  # partial: never ranks
    assert cli.ok("watch", "--once", "diverged").endswith(
        "· 3 done · 0 crashed · 1 pruned · no finite loss yet (3 jobs with NaN or infinity)\n"
    )
    assert "best: no finite loss yet (3 jobs with NaN or infinity)" in cli.ok("show", "diverged").splitlines()
    with cli.db() as db:
        db.get_experiment("diverged").add_job(hyperparameters={"x": 0.5}, results={"loss": 2.0}, status="DONE")
    assert "best loss 2 (job " in cli.ok("watch", "--once", "diverged")


def test_watch_prints_a_line_each_time_something_changes_until_ctrl_c(cli, jobs):
    # Ctrl-C as at a terminal: SIGINT at its default in the watcher, even if the test runner was started in
    # the background (which ignores SIGINT, and a child inherits that).
    watcher = cli.popen("watch", "--interval", "0.2", "--maximize", "loss", "exp",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint)  # fmt: skip
    try:
        first = _line(watcher)
        assert "1 queued · 0 running · 2 done" in first
        with cli.db() as db:
            job = db.get_experiment("exp").next_job(heartbeat=0)
            second = _line(watcher)
            assert "0 queued · 1 running · 2 done" in second
            job.results["loss"] = 7.0
            with job:
                pass
        third = _line(watcher)
        assert f"0 queued · 0 running · 3 done · 0 crashed · 0 pruned · best loss 7 (job {job.job_id})" in third
        os.kill(watcher.pid, signal.SIGINT)
        assert watcher.wait(30) == 0
        assert watcher.stderr.read() == b""
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()  # reaped here: a failure stays this test's, not a ResourceWarning in a later one
        watcher.stdout.close()
        watcher.stderr.close()


@pytest.mark.parametrize("search", ["random", "manual"])
def test_watch_until_done_exits_when_the_search_is_over(cli, search):
    """As the workers' loops end: a budgeted search DONE with nothing running; a manual one with nothing left."""
    with cli.db() as db:
        space = {"x": schedy.random.Uniform(0, 1)}
        exp = schedy.RandomSearch("s", space, max_jobs=2) if search == "random" else schedy.ManualSearch("s")
        db.add_experiment(exp)
        for _ in range(2 if search == "manual" else 0):
            exp.add_job(hyperparameters={"x": 0.5})
        watcher = cli.popen("watch", "--until-done", "--interval", "0.2", "s", stdout=subprocess.PIPE)
        try:
            first = _line(watcher)
            assert " 0 done " in first
            for _ in range(2):
                job = exp.next_job(heartbeat=0)
                time.sleep(0.6)  # three intervals
                assert watcher.poll() is None  # a job is running (and, before the last, one is left)
                with job:
                    job.results["y"] = 1
            assert watcher.wait(30) == 0
            rest = first + watcher.stdout.read().decode()
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
            watcher.stdout.close()
    # A manual search stays open; a spent budget ends the search within a second of its last job (the
    # service's sweep), which the last line may or may not show yet.
    statuses = ("RUNNING",) if search == "manual" else ("RUNNING", "DONE")
    last = (rest.splitlines() or [""])[-1]
    assert any(last.endswith(f"s {s} · 0 queued · 0 running · 2 done · 0 crashed · 0 pruned") for s in statuses), last


def test_watch_until_done_counts_the_budget_as_the_service_does(cli):
    """A job added by hand is not in the budget: with as many jobs as max_jobs, one may still be created."""
    with cli.db() as db:
        exp = schedy.RandomSearch("hand", {"x": schedy.random.Uniform(0, 1)}, max_jobs=2)
        db.add_experiment(exp)
        exp.add_job(hyperparameters={"x": 0.5}, results={"y": 0}, status="DONE")
        with exp.next_job(heartbeat=0) as job:
            job.results["y"] = 1
        watcher = cli.popen("watch", "--until-done", "--interval", "0.2", "hand", stdout=subprocess.PIPE)
        try:
            assert " 2 done " in _line(watcher)
            time.sleep(1.0)  # five intervals with 2 jobs of a budget of 2, nothing running
            assert watcher.poll() is None  # the search has created one: one is left
            with exp.next_job(heartbeat=0) as job:
                job.results["y"] = 2
            assert watcher.wait(30) == 0
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
            watcher.stdout.close()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _line(process, timeout=30):
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no line from watch: {data!r}"
        chunk = os.read(process.stdout.fileno(), 1)
        assert chunk, "watch ended"
        data += chunk
    return data.decode()
