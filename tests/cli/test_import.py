"""``schedy import``: finished jobs from an export or an Optuna study become history a search learns from."""

from __future__ import annotations

import json

import schedy
from schedy.random import Uniform


def _tpe(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch(name, {"x": Uniform(-5, 5), "y": Uniform(-5, 5)}, "min", "loss"))


def test_an_exported_experiment_warm_starts_another(cli, tmp_path):
    _tpe(cli, "source")
    with cli.db() as db:
        exp = db.get_experiment("source")
        for i in range(12):
            x = i - 6 + 0.5
            exp.add_job(hyperparameters={"x": x, "y": 1.0}, results={"loss": x**2}, status="DONE")
        exp.add_job(hyperparameters={"x": 0.0, "y": 0.0}, status="QUEUED")  # not finished: not imported
        exp.add_job(hyperparameters={"x": 4.0, "y": 1.0}, results={"loss": 16.5}, status="PRUNED")
    for fmt in ("csv", "json"):
        out = tmp_path / f"export.{fmt}"
        cli.ok("export", "source", "--format", fmt, "-o", str(out))
        _tpe(cli, f"target-{fmt}")
        done = cli("import", f"target-{fmt}", str(out))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"Added 12 DONE and 1 PRUNED jobs to target-{fmt} (1 unfinished row skipped).\n"
        with cli.db() as db:
            jobs = list(db.get_experiment(f"target-{fmt}").all_jobs())
        assert sorted((j.hyperparameters["x"], j.results["loss"]) for j in jobs if j.status == "DONE") == sorted(
            (i - 6 + 0.5, (i - 6 + 0.5) ** 2) for i in range(12)
        )
        # A job stopped early stays one: TPE ranks it after every DONE job, by the value it reached.
        assert [(j.hyperparameters["x"], j.results) for j in jobs if j.status == "PRUNED"] == [(4.0, {"loss": 16.5})]


def test_an_optuna_dataframe_warm_starts_tpe_past_its_startup(cli, tmp_path):
    """30 imported trials are more than the 10 startup jobs: the first claim already uses the model."""
    header = "number,value,datetime_start,datetime_complete,duration,params_x,params_y,state\n"
    xs = [-5 + i * 10 / 29 for i in range(30)]  # spread over the whole range; loss x**2, best near 0
    rows = [f"{i},{x**2!r},2026-01-01,2026-01-01,0,{x!r},0.5,COMPLETE\n" for i, x in enumerate(xs)]
    rows.append("30,,2026-01-01,,0,3.0,0.5,FAIL\n")
    rows.append("31,9.5,2026-01-01,2026-01-01,0,3.0,0.5,PRUNED\n")  # Optuna keeps a pruned trial's last value
    (tmp_path / "study.csv").write_text(header + "".join(rows))
    _tpe(cli, "warm")
    added = cli.ok("import", "warm", str(tmp_path / "study.csv"))
    assert added == "Added 30 DONE and 1 PRUNED jobs to warm (1 unfinished row skipped).\n"
    with cli.db() as db:
        exp = db.get_experiment("warm")
        jobs = list(exp.all_jobs())
        assert sorted(j.results["loss"] for j in jobs if j.status == "DONE") == sorted(x**2 for x in xs)
        assert all(set(j.hyperparameters) == {"x", "y"} for j in jobs)
        # With the history, TPE hands out points near the imported good region (x near 0), where
        # startup draws (before 10 jobs) would spread over [-5, 5]: about half within 2.5 of 0.
        near = 0
        for _ in range(8):
            with exp.next_job() as job:
                near += abs(job.hyperparameters["x"]) < 2.5
                job.results["loss"] = job.hyperparameters["x"] ** 2
    assert near >= 6


def test_bad_files_are_refused_in_one_line_and_nothing_is_added(cli, tmp_path):
    _tpe(cli, "strict")
    cases = {
        "garbage.csv": ("a,b\n1,2\n", "neither JSON nor a CSV"),
        "broken.json": ("[{", "does not parse"),
        "lines.jsonl": ('{"hyperparameters": {"x": 1, "y": 1}, "results": {"loss": 1}}\nnot json\n', "Line 2"),
    }
    for file, (text, message) in cases.items():
        (tmp_path / file).write_text(text)
        done = cli("import", "strict", str(tmp_path / file))
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
    # A job outside the search space is refused by the service, after the jobs before it.
    (tmp_path / "outside.json").write_text(
        json.dumps(
            [
                {"hyperparameters": {"x": 1, "y": 1}, "results": {"loss": 2}},
                {"hyperparameters": {"x": 1, "z": 1}, "results": {"loss": 2}},
            ]
        )
    )
    done = cli("import", "strict", str(tmp_path / "outside.json"))
    assert done.returncode == 1
    assert done.stderr.startswith("schedy: Added 1 of 2 jobs, then job 2 was refused: ")
    missing = cli("import", "strict", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "Cannot read" in missing.stderr
