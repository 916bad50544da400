"""Early stopping from the command line and in exports: ``schedy add --early-stopping``, ``export --reports``."""

from __future__ import annotations

import csv
import io
import json
import math

import pandas as pd
import pytest

import schedy
from schedy.stopping import ASHA, Hyperband, Median


@pytest.fixture
def reported(cli):
    """An experiment whose two jobs reported a few steps each; returns their ids."""
    with cli.db() as db:
        exp = schedy.RandomSearch("curves", {"x": schedy.random.Uniform(0, 1)})
        db.add_experiment(exp)
        ids = []
        for scale in (1.0, 2.0):
            with exp.next_job() as job:
                for step in range(3):
                    job.report(step, loss=scale / (step + 1), acc=math.nan if step == 1 else 0.5)
            ids.append(job.job_id)
        return ids


def test_add_declares_a_policy_in_short_or_json_form(cli):
    cli.ok("add", "--early-stopping", "asha:val_loss:min:max_step=27,reduction_factor=3", "a", "manual")
    cli.ok("add", "--early-stopping", "median:acc:max:warmup_steps=2", "m", "manual")
    cli.ok("add", "--early-stopping", "hyperband:loss:min:max_step=9", "h", "manual")
    wire = '{"asha": {"resultName": "loss", "objective": "min", "minStep": 2, "reductionFactor": 4, "maxStep": null}}'
    cli.ok("add", "--early-stopping", wire, "j", "manual")
    with cli.db() as db:
        assert db.get_experiment("a").early_stopping == ASHA("val_loss", "min", 1, 3, 27)
        assert db.get_experiment("m").early_stopping == Median("acc", "max", warmup_steps=2)
        assert db.get_experiment("h").early_stopping == Hyperband("loss", "min", 1, 9)
        assert db.get_experiment("j").early_stopping == ASHA("loss", "min", 2, 4)


def test_the_experiment_options_may_also_follow_the_scheduler_and_show_prints_them(cli):
    space = ["x", "uniform", '{"low": 0, "high": 1}']
    cli.ok("add", "t", "tpe", "min", "loss", *space, "--early-stopping", "asha:loss:min:max_step=9", "--max-jobs", "20")
    cli.ok("add", "r", "random", *space, "-s", "DONE", "--early-stopping", "median:loss:min:min_jobs=2")
    cli.ok("add", "g", "grid", "x", "[1, 2]", "y", '["a", "b", "c"]', "--max-jobs", "4")
    cli.ok("add", "m", "manual", "--early-stopping", "hyperband:acc:max:max_step=27")
    # Before the scheduler as well; given on both sides, the later one wins (as argparse does).
    cli.ok("add", "--max-jobs", "3", "b", "random", *space, "--max-jobs", "5")
    with cli.db() as db:
        tpe = db.get_experiment("t")
        assert (tpe.early_stopping, tpe.max_jobs) == (ASHA("loss", "min", max_step=9), 20)
        rand = db.get_experiment("r")
        assert (rand.status, rand.early_stopping) == ("DONE", Median("loss", "min", min_jobs=2))
        assert db.get_experiment("g").max_jobs == 4
        assert db.get_experiment("m").early_stopping == Hyperband("acc", "max", 1, 27)
        assert db.get_experiment("b").max_jobs == 5
    shown = cli.ok("show", "t").splitlines()
    assert shown[:5] == ["name: t", "status: RUNNING", "scheduler: TPESearch",
                         'x: uniform ({"low": 0.0, "high": 1.0})', "objective: min loss"]  # fmt: skip
    assert "early stopping: asha:loss:min:min_step=1,reduction_factor=3,max_step=9" in shown
    assert "max jobs: 20" in shown
    assert "jobs made: 0" in shown
    grid = cli.ok("show", "g").splitlines()
    assert grid[3:6] == ["x: [1, 2]", 'y: ["a", "b", "c"]', "cells: 6"]
    assert "max jobs: 4" in grid
    # What show prints is what --early-stopping takes: the same policy again.
    policy = next(line for line in cli.ok("show", "r").splitlines() if line.startswith("early stopping: "))
    cli.ok("add", "r2", "manual", "--early-stopping", policy.removeprefix("early stopping: "))
    with cli.db() as db:
        assert db.get_experiment("r2").early_stopping == Median("loss", "min", min_jobs=2)


def test_the_median_rule_compared_with_values_is_declared_shown_and_declared_again(cli):
    """compare=value (Optuna's MedianPruner) survives add, show and the option's round trip through the service."""
    cli.ok("add", "v", "manual", "--early-stopping", "median:loss:min:compare=value,min_jobs=3")
    with cli.db() as db:
        assert db.get_experiment("v").early_stopping == Median("loss", "min", min_jobs=3, compare="value")
    shown = [line for line in cli.ok("show", "v").splitlines() if line.startswith("early stopping: ")]
    assert shown == ["early stopping: median:loss:min:warmup_steps=0,min_jobs=3,compare=value"]
    cli.ok("add", "v2", "manual", "--early-stopping", shown[0].removeprefix("early stopping: "))
    cli.ok("add", "a", "manual", "--early-stopping", "median:loss:min")
    with cli.db() as db:
        assert db.get_experiment("v2").early_stopping == Median("loss", "min", min_jobs=3, compare="value")
        assert db.get_experiment("a").early_stopping.compare == "average"


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("asha:loss", "NAME:RESULT:OBJECTIVE"),
        ("pruner:loss:min", "NAME:RESULT:OBJECTIVE"),
        ("asha:loss:down", '"min" or "max"'),
        ("asha:loss:min:patience=3", "KEY=INTEGER"),
        ("median:loss:min:max_step=3", "median takes warmup_steps, min_jobs, compare"),
        ("median:loss:min:compare=mean", 'compare must be "average"'),
        ("asha:loss:min:compare=value", "KEY=INTEGER"),
        ("hyperband:loss:min", "needs max_step"),
        ('{"asha": 3}', "earlyStopping option"),
    ],
)
def test_add_refuses_a_bad_policy_with_a_sentence_and_creates_nothing(cli, policy, words):
    result = cli("add", "--early-stopping", policy, "bad", "manual")
    assert result.returncode != 0
    assert words in result.stderr
    with cli.db() as db, pytest.raises(schedy.errors.ClientRequestError):
        db.get_experiment("bad")


def test_export_reports_in_long_form_as_csv_and_json(cli, reported, tmp_path):
    rows = list(csv.DictReader(io.StringIO(cli.ok("export", "--reports", "curves"))))
    assert [(r["job"], r["step"]) for r in rows] == [(job, str(step)) for job in reported for step in range(3)]
    assert list(rows[0]) == ["job", "attempt", "step", "time", "metrics.loss", "metrics.acc"]
    assert float(rows[4]["metrics.loss"]) == 1.0
    assert rows[1]["metrics.acc"] == "nan"
    out = tmp_path / "reports.json"
    cli.ok("export", "--reports", "--format", "json", "-o", str(out), "curves")
    records = json.loads(out.read_text())
    assert len(records) == 6
    assert records[3] == {**records[3], "job": reported[1], "step": 0, "metrics": {"loss": 2.0, "acc": 0.5}}


def test_to_dataframe_gives_the_reports_in_long_form(cli, reported):
    with cli.db() as db:
        frame = db.get_experiment("curves").to_dataframe(reports=True)
    assert list(frame.columns) == ["job", "attempt", "step", "time", "metrics.loss", "metrics.acc"]
    assert list(frame["job"]) == [reported[0]] * 3 + [reported[1]] * 3
    assert frame["metrics.loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 2.0, 1.0, 2 / 3])
    assert math.isnan(frame["metrics.acc"][1])
    assert pd.api.types.is_datetime64_any_dtype(frame["time"]) or frame["time"].notna().all()


def test_show_sums_up_a_jobs_reports_in_a_line(cli, reported):
    lines = cli.ok("show", "curves", reported[0]).splitlines()
    assert "reports: 3 at steps 0–2; the last (step 2): loss 0.333333, acc 0.5" in lines
    with cli.db() as db:
        exp = db.get_experiment("curves")
        with exp.next_job() as silent:
            silent.results["loss"] = 1.0
    assert not any(line.startswith("reports:") for line in cli.ok("show", "curves", silent.job_id).splitlines())


def test_show_and_export_say_why_the_policy_stopped_a_job(cli):
    with cli.db() as db:
        exp = schedy.RandomSearch("why", {"x": schedy.random.Uniform(0, 1)}, early_stopping=ASHA("loss", "min"))
        db.add_experiment(exp)
        with exp.next_job() as kept:
            assert not kept.report(1, loss=0.1)
        with exp.next_job() as stopped:
            assert stopped.report(1, loss=5.0)
            raise schedy.errors.JobPruned()
        reason = exp.get_job(stopped.job_id).stop_reason
    assert reason is not None
    assert "rung" in reason
    shown = cli.ok("show", "why", stopped.job_id)
    assert "status: PRUNED" in shown
    assert f"stop_reason: {reason}" in shown.splitlines()
    assert "reports: 1 at step 1; the last (step 1): loss 5" in shown.splitlines()  # the value it was stopped on
    assert "stop_reason" not in cli.ok("show", "why", kept.job_id)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(cli.ok("export", "why")))}
    assert (rows[stopped.job_id]["stop_reason"], rows[kept.job_id]["stop_reason"]) == (reason, "")
    with cli.db() as db:
        frame = db.get_experiment("why").to_dataframe()
    assert frame.loc[stopped.job_id, "stop_reason"] == reason


def test_show_tells_how_many_jobs_went_on_from_each_rung(cli):
    """ASHA with rungs at steps 1 and 3: show says, rung by rung, how many of the jobs that reached it went on."""
    cli.ok("add", "rungs", "manual", "--early-stopping", "asha:loss:min:max_step=9")
    ended = {}
    with cli.db() as db:
        exp = db.get_experiment("rungs")
        # The loss each job reports at every step, the jobs running one after another in this order: at step 1
        # 3 and 2 go on (each the best so far), 9, 8 and 7 stop, 2.5 goes on (second of six, the top third);
        # at step 3 3 and 2 go on again, and 2.5 stops (not the best of three).
        for quality in (3, 2, 9, 8, 7, 2.5):
            exp.add_job(hyperparameters={"q": quality})
        for _ in range(6):
            with exp.next_job(heartbeat=0) as job:
                for step in range(1, 10):
                    ended[job.hyperparameters["q"]] = step
                    if job.report(step, loss=float(job.hyperparameters["q"])):
                        raise schedy.errors.JobPruned()
    went_on = {rung: sum(step > rung for step in ended.values()) for rung in (1, 3)}
    assert 0 < went_on[3] < went_on[1] < 6  # some stopped at each rung
    shown = cli.ok("show", "rungs").splitlines()
    assert f"rungs: step 1: {went_on[1]} of 6 went on · step 3: {went_on[3]} of {went_on[1]} went on" in shown
    # The median rule has a "rung" at every step: show leaves its summary to the dashboard.
    cli.ok("add", "median", "manual", "--early-stopping", "median:loss:min")
    assert not any(line.startswith("rungs:") for line in cli.ok("show", "median").splitlines())
