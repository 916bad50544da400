"""``schedy export`` and ``to_dataframe`` carry the notes people keep on jobs."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

import schedy


def _note(cli, path: str, text: str) -> None:
    credentials = {"email": cli.service.email, "token": cli.service.api_token}
    token = httpx.post(cli.service.url + "token/", json=credentials).json()["token"]
    answer = httpx.put(cli.service.url + path, json={"text": text}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


def test_export_and_the_dataframe_have_each_jobs_note(cli) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("noted"))
        exp = db.get_experiment("noted")
        ids = [exp.add_job(hyperparameters={"x": i}).job_id for i in range(3)]
    _note(cli, f"experiments/noted/jobs/{ids[0]}/notes/", 'diverged, "lr" too high\nsee run 12')
    _note(cli, f"experiments/noted/jobs/{ids[2]}/notes/", "baseline")

    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(cli.ok("export", "noted")))}
    assert list(rows[ids[0]])[-1] == "note"
    assert rows[ids[0]]["note"] == 'diverged, "lr" too high\nsee run 12'
    assert rows[ids[1]]["note"] == ""
    assert rows[ids[2]]["note"] == "baseline"

    by_id = {r["id"]: r for r in json.loads(cli.ok("export", "noted", "--format", "json"))}
    assert by_id[ids[0]]["note"] == 'diverged, "lr" too high\nsee run 12'
    assert "note" not in by_id[ids[1]]

    pd = pytest.importorskip("pandas")
    with cli.db() as db:
        frame = db.get_experiment("noted").to_dataframe()
    assert frame.loc[ids[2], "note"] == "baseline"
    assert pd.isna(frame.loc[ids[1], "note"])


def test_export_of_an_experiment_without_notes_has_no_column(cli) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("plain"))
        db.get_experiment("plain").add_job(hyperparameters={"x": 1})
    assert "note" not in cli.ok("export", "plain").splitlines()[0].split(",")
