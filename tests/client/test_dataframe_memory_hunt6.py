"""``Experiment.to_dataframe()`` builds its frame column by column: the same frame, in a fraction of the memory.

Before, every report (and every job) was first held as a Python dict: a million reports peaked at 7.7 times
the frame. The frames must be exactly those of before (columns, order, dtypes, values, NaN), which the
reference functions below compute as the old code did (one dict per row, then ``from_records``).
"""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import schedy
from schedy import _dataframe
from schedy._artifacts import experiment_listing
from schedy._notes import job_notes

# -- the frames as the code before built them -----------------------------------------------------------------


def _old_reports_frame(reports: list[dict[str, Any]]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = {}
    for report in reports:
        row = {"job": report["job"], "attempt": report.get("attempt", 1), "step": report["step"]}
        row["time"] = report["time"]
        for name, value in report["metrics"].items():
            names[name] = None
            row["metrics." + name] = value
        rows.append(row)
    columns = ["job", "attempt", "step", "time", *("metrics." + name for name in names)]
    return pd.DataFrame.from_records(rows, columns=columns)


def _old_jobs_frame(jobs: list[schedy.Job], artifacts: dict[str, Any], notes: dict[str, str]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    hp_names: dict[str, None] = {}
    result_names: dict[str, None] = {}
    present: set[str] = set()
    for job in jobs:
        row: dict[str, Any] = {"id": job.job_id, "status": job.status}
        for name, value in job.hyperparameters.items():
            hp_names[name] = None
            row["hyperparameters." + name] = value
        for name, value in job.results.items():
            result_names[name] = None
            row["results." + name] = value
        for attr in _dataframe._MANAGED:
            value = _dataframe.error_text(job.error) if attr == "error" else getattr(job, attr)
            if value is not None:
                present.add(attr)
                row[attr] = value
        rows.append(row)
    columns = [
        "id",
        "status",
        *("hyperparameters." + name for name in hp_names),
        *("results." + name for name in result_names),
        *(attr for attr in _dataframe._MANAGED if attr in present),
    ]
    if artifacts and any(artifacts.get(row["id"]) for row in rows):
        columns.append("artifacts")
        for row in rows:
            row["artifacts"] = list(artifacts.get(row["id"], []))
    if notes and any(notes.get(row["id"]) for row in rows):
        columns.append("note")
        for row in rows:
            row["note"] = notes.get(row["id"])
    return pd.DataFrame.from_records(rows, columns=columns).set_index("id")


def _same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal to the last detail: columns, dtypes, index, values, and the type of every object cell."""
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert list(frame.columns) == list(expected.columns)
    assert [str(dtype) for dtype in frame.dtypes] == [str(dtype) for dtype in expected.dtypes]
    for column in frame.columns:
        if frame[column].dtype == object:  # 1 == 1.0 for assert_frame_equal: compare the objects themselves
            assert [(type(v), repr(v)) for v in frame[column]] == [(type(v), repr(v)) for v in expected[column]]


# -- a varied experiment through the service ------------------------------------------------------------------


def _varied(db: schedy.SchedyDB, tmp_path: Path) -> schedy.Experiment:
    """Jobs with different metric sets, NaN, None, ints and floats, a second attempt, a crash and an artifact."""
    exp = schedy.ManualSearch("varied")
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"lr": 0.1, "opt": "adam", "layers": [64, 64]})
    exp.add_job(hyperparameters={"lr": 0.01, "opt": "sgd", "dropout": None})
    exp.add_job(hyperparameters={"lr": 1, "opt": "sgd"})
    exp.add_job(hyperparameters={"lr": 0.5, "seed": 3}, results={"loss": 7}, status="DONE")  # no report at all

    first = exp.next_job(heartbeat=0)
    with first:
        for step in range(6):  # floats, a NaN, an infinity, and acc on every other step
            loss = math.nan if step == 2 else math.inf if step == 4 else 1 / (step + 1)
            first.report(step, loss=loss, **({"acc": step / 10} if step % 2 else {}))
        path = tmp_path / "model.bin"
        path.write_bytes(b"weights")
        first.save_artifact(path)
        first.results = {"loss": 0.2, "acc": 0.5}

    second = exp.next_job(heartbeat=0)  # integer metrics, None, a metric seen only here, a huge integer
    for step in range(5):
        second.report(step, epoch=step, loss=None if step == 1 else step, big=2**60 + step, grad=0.5 if step else 3)
    second.status = schedy.Job.QUEUED  # set back: its next run is attempt 2
    second.put()
    again = exp.next_job(heartbeat=0)
    assert (again.job_id, again.attempt) == (second.job_id, 2)
    with again:
        for step in range(3):
            again.report(step, loss=0.5 - step / 10, epoch=step)
        again.results = {"loss": 0.3, "epochs": 3}

    third = exp.next_job(heartbeat=0)
    third.report(0, loss=2.5)
    with pytest.raises(ZeroDivisionError), third:
        _ = 1 / 0
    return exp


def test_reports_frame_is_exactly_the_frame_of_before(
    db: schedy.SchedyDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = _varied(db, tmp_path)
    expected = _old_reports_frame(list(exp.reports()))
    assert len(expected) == 6 + 5 + 3 + 1
    assert set(expected["attempt"]) == {1, 2}
    assert expected["metrics.epoch"].dtype == "float64"
    assert expected["metrics.big"].dtype == "float64"
    _same(exp.to_dataframe(reports=True), expected)
    for chunk in (1, 2, 4, 7):  # columns joined from several chunks of rows, whatever their boundaries
        monkeypatch.setattr(_dataframe, "_CHUNK", chunk)
        _same(exp.to_dataframe(reports=True), expected)


def test_jobs_frame_is_exactly_the_frame_of_before(
    db: schedy.SchedyDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = _varied(db, tmp_path)
    transport = db._transport
    artifacts, notes = experiment_listing(transport, exp.name), job_notes(transport, exp.name)
    expected = _old_jobs_frame(list(exp.all_jobs()), artifacts, notes)
    assert {"artifacts", "error", "hyperparameters.layers", "results.epochs"} <= set(expected.columns)
    _same(exp.to_dataframe(), expected)
    for chunk in (1, 3):
        monkeypatch.setattr(_dataframe, "_CHUNK", chunk)
        _same(exp.to_dataframe(), expected)


def test_an_experiment_without_reports_or_jobs_gives_the_empty_frames_of_before(db: schedy.SchedyDB) -> None:
    exp = schedy.ManualSearch("empty")
    db.add_experiment(exp)
    empty = exp.to_dataframe(reports=True)
    assert list(empty.columns) == ["job", "attempt", "step", "time"]
    assert len(empty) == 0
    assert [str(d) for d in empty.dtypes[1:]] == ["int64", "int64", str(_old_reports_frame([_sample()])["time"].dtype)]
    _same(exp.to_dataframe(), _old_jobs_frame([], {}, {}))


def _sample() -> dict[str, Any]:
    from datetime import UTC, datetime

    return {"job": "x", "attempt": 1, "step": 0, "time": datetime.now(UTC), "metrics": {}}


# -- memory ---------------------------------------------------------------------------------------------------


def test_reports_frame_peaks_near_its_own_size(db: schedy.SchedyDB) -> None:
    exp = schedy.ManualSearch("curves")
    db.add_experiment(exp)
    jobs, steps = 12, 5000
    for _ in range(jobs):
        exp.add_job(hyperparameters={"lr": 0.1})
    for _ in range(jobs):
        job = exp.next_job(heartbeat=0)
        with job.buffered_reports(every=3600) as reports:  # sent 1,000 at a time
            for step in range(steps):
                reports.report(step, loss=1 / (step + 1), **({"acc": step / steps} if step % 2 else {}))
    tracemalloc.start()
    try:
        frame = exp.to_dataframe(reports=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) == jobs * steps
    size = frame.memory_usage(deep=True).sum()
    # Before: about 770 bytes a report held as dicts, 6 to 8 times the frame.
    assert peak < 2.5 * size, f"peak {peak / 2**20:.1f} MiB for a frame of {size / 2**20:.1f} MiB"
