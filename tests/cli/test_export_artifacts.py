"""``schedy export`` lists each job's artifacts (name, size, SHA-256, a download URL)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import httpx

import schedy


def test_export_lists_each_jobs_artifacts_with_a_working_url(cli, tmp_path: Path) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("listed"))
        exp = db.get_experiment("listed")
        jobs = [exp.add_job(hyperparameters={"x": i}) for i in range(3)]
        for job, names in zip(jobs, (["model.pt", "curve.png"], [], ["model.pt"]), strict=True):
            for name in names:
                path = tmp_path / f"{job.job_id}-{name}"
                path.write_bytes(f"{job.job_id}/{name}".encode() * 100)
                job.save_artifact(path, name)
    ids = [job.job_id for job in jobs]

    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(cli.ok("export", "listed")))}
    assert list(rows[ids[0]])[-1] == "artifacts"
    assert rows[ids[1]]["artifacts"] == ""
    listed = json.loads(rows[ids[0]]["artifacts"])
    assert [a["name"] for a in listed] == ["curve.png", "model.pt"]

    by_id = {record["id"]: record for record in json.loads(cli.ok("export", "listed", "--format", "json"))}
    assert "artifacts" not in by_id[ids[1]]
    assert by_id[ids[0]]["artifacts"] == listed
    (model,) = by_id[ids[2]]["artifacts"]
    content = f"{ids[2]}/model.pt".encode() * 100
    assert (model["size"], model["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    credentials = {"email": cli.service.email, "token": cli.service.api_token}
    token = httpx.post(cli.service.url + "token/", json=credentials).json()["token"]
    assert httpx.get(model["url"], headers={"Authorization": f"Bearer {token}"}).content == content


def test_export_of_an_experiment_without_artifacts_has_no_column(cli) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("bare"))
        db.get_experiment("bare").add_job(hyperparameters={"x": 1})
    header = cli.ok("export", "bare").splitlines()[0]
    assert "artifacts" not in header.split(",")
