"""Moving jobs between files and experiments: the dashboard's downloads, reports files, times to the millisecond."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pandas as pd

import schedy
from schedy.random import Uniform
from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments


def _tpe(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch(name, {"x": Uniform(-5, 5), "y": Uniform(-5, 5)}, "min", "loss"))


def _jobs(cli, name: str) -> dict[str, schedy.Job]:
    with cli.db() as db:
        return {job.job_id: job for job in db.get_experiment(name).all_jobs()}


def test_the_dashboards_json_download_and_any_pretty_printed_json_are_imported(cli, tmp_path):
    # The dashboard's Download JSON: one object over many lines, the jobs under "jobs", NaN as the string "NaN".
    download = {
        "experiment": "source",
        "sort": None,
        "count": 2,
        "jobs": [
            {"id": "a1", "status": "DONE", "hyperparameters": {"x": 1.5, "y": 0.0}, "results": {"loss": 2.25},
             "worker": "vm:1", "attempt": 1, "createdAt": "2026-12-07T17:40:45.062Z"},
            {"id": "a2", "status": "DONE", "hyperparameters": {"x": -1.0, "y": 2.0},
             "results": {"loss": "NaN", "curve": [1.0, "Infinity"]}},
        ],
    }  # fmt: skip
    (tmp_path / "download.json").write_text(json.dumps(download, indent=1))
    _tpe(cli, "from-dashboard")
    done = cli("import", "from-dashboard", str(tmp_path / "download.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Added 2 DONE jobs to from-dashboard.\n"
    jobs = _jobs(cli, "from-dashboard")
    assert jobs["a1"].results == {"loss": 2.25}
    assert math.isnan(jobs["a2"].results["loss"])  # a number the search ranks worst, not a string
    assert jobs["a2"].results["curve"] == [1.0, math.inf]

    # One job written over several lines is a job, as on one line.
    one = {"id": "b1", "status": "DONE", "hyperparameters": {"x": 0.5, "y": 0.5}, "results": {"loss": 0.5}}
    (tmp_path / "one.json").write_text(json.dumps(one, indent=2))
    assert cli.ok("import", "from-dashboard", str(tmp_path / "one.json")) == "Added 1 DONE job to from-dashboard.\n"

    # A pretty-printed object that is broken is said to be one, with where it breaks: not "Line 1 is not JSON".
    (tmp_path / "broken.json").write_text(json.dumps(download, indent=1)[:-30])
    broken = cli("import", "from-dashboard", str(tmp_path / "broken.json"))
    assert broken.returncode == 2
    assert broken.stderr.startswith("schedy: The file looks like a JSON object but does not parse: ")
    assert "Line 1" not in broken.stderr


def test_the_dashboards_earlier_csv_download_with_hp_and_res_columns_is_imported(cli, tmp_path):
    (tmp_path / "download.csv").write_text(
        "id,status,hp.x,hp.y,res.loss,res.acc,created,duration,worker\r\n"
        "c1,DONE,1.5,0,2.25,0.5,2026-12-07T17:40:45.062Z,0.084,vm:1\r\n"
        "c2,PRUNED,-1,2,NaN,,2026-12-07T17:40:45.082Z,0.11,vm:2\r\n"
        "c3,RUNNING,0,0,,,2026-12-07T17:40:45.090Z,,vm:3\r\n"
    )
    _tpe(cli, "from-csv")
    done = cli("import", "from-csv", str(tmp_path / "download.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Added 1 DONE and 1 PRUNED jobs to from-csv (1 RUNNING row skipped).\n"
    assert "created, duration, worker" in done.stderr
    jobs = _jobs(cli, "from-csv")
    assert (jobs["c1"].hyperparameters, jobs["c1"].results) == ({"x": 1.5, "y": 0}, {"loss": 2.25, "acc": 0.5})
    assert jobs["c2"].status == "PRUNED"
    assert math.isnan(jobs["c2"].results["loss"])


def _reported(cli, name: str) -> None:
    """A TPE search with a DONE job and a PRUNED job (set so by hand), each with two reports."""
    _tpe(cli, name)
    with cli.db() as db:
        exp = db.get_experiment(name)
        for loss in (1.0, 2.0):
            with exp.next_job() as job:
                job.report(1, loss=loss * 2)
                job.report(2, loss=loss)
                job.results["loss"] = loss
        job.status = "PRUNED"
        job.put()


def test_a_reports_file_is_refused_as_one_naming_what_to_import(cli, tmp_path):
    _reported(cli, "curves")
    _tpe(cli, "copy")
    for fmt in ("csv", "json"):
        path = tmp_path / f"reports.{fmt}"
        cli.ok("export", "curves", "--reports", "--format", fmt, "-o", str(path))
        done = cli("import", "copy", str(path))
        assert (done.returncode, done.stdout) == (2, ""), fmt
        assert done.stderr == (
            "schedy: The file holds intermediate reports (schedy export --reports), not jobs: import the jobs' own "
            "export (schedy export EXPERIMENT, without --reports) instead; reports cannot be imported.\n"
        )
    assert _jobs(cli, "copy") == {}


def test_importing_stopped_jobs_says_their_reports_are_not_imported(cli, tmp_path):
    _reported(cli, "stopped")
    cli.ok("export", "stopped", "-o", str(tmp_path / "jobs.csv"))
    _tpe(cli, "moved")
    done = cli("import", "moved", str(tmp_path / "jobs.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Added 1 DONE and 1 PRUNED jobs to moved.\n"
    assert done.stderr.startswith("schedy: not imported: the file's ")
    assert done.stderr.endswith(
        "; nor the jobs' intermediate reports (their learning curves), which schedy import cannot add.\n"
    )


def _iso_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def test_times_in_export_and_to_dataframe_are_the_dashboards_milliseconds(cli, service, tmp_path):
    _tpe(cli, "times")
    with cli.db() as db:
        exp = db.get_experiment("times")
        for i in range(30):  # about half of the times were a millisecond early, truncated: all 30 right by chance 1e-9
            exp.add_job(hyperparameters={"x": 0.1 * i, "y": 0.0}, results={"loss": float(i)}, status="DONE")
        frame = exp.to_dataframe()
    exported = json.loads(cli.ok("export", "times", "--format", "json"))
    # The dashboard's columns, as the database computes them: milliseconds after t0, rounded (a whole second here).
    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.read() as conn:
            user = users.by_email(conn, service.email)
            assert user is not None
            row = store_experiments.get(conn, user.id, "times")
            assert row is not None
            t0 = float(math.floor(row.created_at))
            _, texts = stats.column_texts(conn, row.id, t0, ("id", "created"))
    finally:
        store.dispose()
    after = json.loads(texts["created"])
    dashboard = {job_id: int(t0) * 1000 + ms for job_id, ms in zip(json.loads(texts["id"]), after, strict=True)}
    assert {job["id"]: _iso_ms(job["createdAt"]) for job in exported} == dashboard
    assert {job_id: round(at.timestamp() * 1000) for job_id, at in frame["created_at"].items()} == dashboard


def test_an_empty_reports_frame_has_the_columns_and_dtypes_of_a_full_one(cli):
    _reported(cli, "full")
    _tpe(cli, "empty")
    with cli.db() as db:
        full = db.get_experiment("full").to_dataframe(reports=True)
        empty = db.get_experiment("empty").to_dataframe(reports=True)
    assert len(full) == 4
    assert len(empty) == 0
    assert list(empty.columns) == ["job", "attempt", "step", "time"]
    assert empty.dtypes.to_dict() == full.dtypes[empty.columns].to_dict()
    assert str(empty["attempt"].dtype) == "int64"
    assert str(empty["time"].dtype).endswith(", UTC]")
    assert pd.concat([empty, full]).dtypes.to_dict() == full.dtypes.to_dict()
