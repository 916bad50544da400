"""Every artifact of an experiment: ``GET experiments/NAME/artifacts/`` and ``to_dataframe``'s ``artifacts`` column."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import schedy


def _session(service: Any, user: Any) -> httpx.Client:
    token = httpx.post(service.url + "token/", json={"email": user.email, "token": user.api_token}).json()["token"]
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _experiment(db: schedy.SchedyDB, tmp_path: Path) -> tuple[schedy.Experiment, list[schedy.Job]]:
    """Three jobs: the first with two artifacts, the second with none, the third with one."""
    db.add_experiment(schedy.ManualSearch("listed"))
    exp = db.get_experiment("listed")
    jobs = [exp.add_job(hyperparameters={"x": i}) for i in range(3)]
    for job, names in zip(jobs, (["model.pt", "curve.png"], [], ["model.pt"]), strict=True):
        for name in names:
            path = tmp_path / f"{job.job_id}-{name}"
            path.write_bytes(f"{job.job_id}/{name}".encode() * 100)
            job.save_artifact(path, name)
    return exp, jobs


def test_the_dataframe_lists_each_jobs_artifacts_with_a_working_download_url(
    db: schedy.SchedyDB, service: Any, tmp_path: Path
) -> None:
    exp, jobs = _experiment(db, tmp_path)
    frame = exp.to_dataframe()
    assert list(frame.columns)[-1] == "artifacts"
    first, second, third = (frame.loc[job.job_id, "artifacts"] for job in jobs)
    assert [a["name"] for a in first] == ["curve.png", "model.pt"]
    assert second == []
    content = f"{jobs[2].job_id}/model.pt".encode() * 100
    (only,) = third
    assert only["size"] == len(content)
    assert only["sha256"] == hashlib.sha256(content).hexdigest()
    # The URL downloads the bytes with the user's token.
    with _session(service, service) as http:
        assert http.get(only["url"]).content == content


def test_a_dataframe_without_artifacts_has_no_column(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("bare"))
    exp = db.get_experiment("bare")
    exp.add_job(hyperparameters={"x": 1})
    frame = exp.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert "artifacts" not in frame.columns


def test_the_experiment_list_is_paged_and_private(db: schedy.SchedyDB, service: Any, tmp_path: Path) -> None:
    _, jobs = _experiment(db, tmp_path)
    seen = []
    with _session(service, service) as http:
        query: dict[str, Any] = {"limit": 2}
        while True:
            page = http.get("experiments/listed/artifacts/", params=query).json()
            assert len(page["items"]) <= 2
            seen += [(item["job"], item["name"]) for item in page["items"]]
            if page["next"] is None:
                break
            query["start"] = page["next"]
        assert http.get("experiments/nope/artifacts/").status_code == 404
        assert http.get("experiments/listed/artifacts/", params={"start": "forged"}).status_code == 400
    assert seen == [(jobs[0].job_id, "model.pt"), (jobs[0].job_id, "curve.png"), (jobs[2].job_id, "model.pt")]
    other = service.new_user()
    with _session(service, other) as http:
        answer = http.get("experiments/listed/artifacts/")
        assert answer.status_code == 404
        assert answer.json()["detail"] == "Experiment 'listed' does not exist."


def test_experiment_artifacts_lists_each_jobs_artifacts_that_then_download(
    db: schedy.SchedyDB, service: Any, tmp_path: Path
) -> None:
    exp, jobs = _experiment(db, tmp_path)
    listed = exp.artifacts()
    assert sorted(listed) == sorted([jobs[0].job_id, jobs[2].job_id])  # the job without any is absent
    assert [a.name for a in listed[jobs[0].job_id]] == ["curve.png", "model.pt"]
    content = f"{jobs[0].job_id}/curve.png".encode() * 100
    curve = listed[jobs[0].job_id][0]
    assert (curve.size, curve.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert curve.created_at is not None
    path = exp.get_job(jobs[0].job_id).load_artifact(curve.name, to=tmp_path / "back")
    assert path.read_bytes() == content
    # Another user's experiment of the same name is not theirs to list.
    with schedy.SchedyDB(config_override=service.new_user().client_config) as other:
        other.add_experiment(schedy.ManualSearch("listed"))
        assert other.get_experiment("listed").artifacts() == {}


def test_experiment_artifacts_of_a_missing_experiment_is_404(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("gone"))
    exp = db.get_experiment("gone")
    exp.delete()
    with pytest.raises(schedy.errors.ClientRequestError) as raised:
        exp.artifacts()
    assert raised.value.code == 404
