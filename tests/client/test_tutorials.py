"""The original Schedy tutorials' flows, as users wrote them, against the real service.

Each test follows a tutorial's code as closely as the documented API allows
(the original docs used ``job.id``, which is offered as an alias of
``job.job_id``), with the client configured from ``~/.schedy/client.json``
as the tutorials assumed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import schedy


@pytest.fixture
def home_config(service: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``client.json`` where the tutorials expect it (``~/.schedy/``)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SCHEDY_HOME", "SCHEDY_CONFIG", "SCHEDY_ROOT", "SCHEDY_EMAIL", "SCHEDY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / ".schedy" / "client.json"
    path.parent.mkdir()
    path.write_text(json.dumps(service.client_config))
    return path


def test_setup_a_database_and_an_experiment(home_config: Path) -> None:
    db = schedy.SchedyDB()
    exp = schedy.ManualSearch("TestExperiment")
    db.add_experiment(exp)
    exp = db.get_experiment("TestExperiment")
    assert type(exp) is schedy.ManualSearch
    assert [e.name for e in db.get_experiments()] == ["TestExperiment"]


def test_scheduler_queue_of_hand_made_jobs(home_config: Path) -> None:
    db = schedy.SchedyDB()
    exp = schedy.ManualSearch("MinimizeSimple")
    db.add_experiment(exp)
    for x in (1, 2, 3):
        exp.add_job(hyperparameters={"x": x, "y": -x})

    # The worker, as the tutorial wrote it: run until the queue is empty.
    ran = []
    while True:
        try:
            with exp.next_job() as job:
                x, y = job.hyperparameters["x"], job.hyperparameters["y"]
                job.results["value"] = x**2 + y**2
                ran.append(job.id)
        except schedy.errors.NoJobError:
            break

    jobs = list(exp.all_jobs())
    assert [job.id for job in jobs] == ran
    assert [(job.status, job.results["value"]) for job in jobs] == [("DONE", 2), ("DONE", 8), ("DONE", 18)]


def test_random_search(home_config: Path) -> None:
    db = schedy.SchedyDB()
    exp = schedy.RandomSearch(
        "RandomMinimize",
        distributions={
            "x": schedy.random.Uniform(-5, 5),
            "learning_rate": schedy.random.LogUniform(1e-5, 1e-1),
            "optimizer": schedy.random.Choice(["adam", "sgd"], weights=[3, 1]),
        },
    )
    db.add_experiment(exp)
    for _ in range(20):
        with exp.next_job() as job:
            job.results["loss"] = job.hyperparameters["x"] ** 2
    jobs = list(exp.all_jobs())
    assert len(jobs) == 20
    assert all(job.status == schedy.Job.DONE for job in jobs)
    assert all(-5 <= job.hyperparameters["x"] < 5 for job in jobs)
    assert {job.hyperparameters["optimizer"] for job in jobs} <= {"adam", "sgd"}
    best = min(jobs, key=lambda job: job.results["loss"])
    assert best.results["loss"] == min(job.hyperparameters["x"] ** 2 for job in jobs)


def test_population_based_training_worker_reloads_its_model_path(home_config: Path, tmp_path: Path) -> None:
    db = schedy.SchedyDB()
    exp = schedy.PopulationBasedTraining(
        "MNIST with PBT",
        objective=schedy.pbt.MAXIMIZE,
        result_name="accuracy",
        exploit=schedy.pbt.Truncate(),
        explore={"learning_rate": schedy.pbt.Perturb()},
        initial_distributions={"learning_rate": schedy.random.LogUniform(1e-3, 1)},
        population_size=4,
        max_generations=3,
    )
    db.add_experiment(exp)
    exp = db.get_experiment("MNIST with PBT")

    loaded = []
    while True:
        try:
            with exp.next_job() as job:
                # The tutorial's worker: reload the checkpoint the service copied into the results.
                model_path = job.results.get("model_path")
                if model_path is None:
                    model = {"steps": 0, "progress": 0.0}
                else:
                    model = json.loads(Path(model_path).read_text())
                    loaded.append(model_path)
                model["steps"] += 1
                model["progress"] += math.log10(job.hyperparameters["learning_rate"] * 10) + 1
                path = tmp_path / f"{job.id}.json"
                path.write_text(json.dumps(model))
                job.results["model_path"] = str(path)
                job.results["accuracy"] = model["progress"]
        except schedy.errors.NoJobError:
            break

    jobs = list(exp.all_jobs())
    # An exploit continues the source's model, so a member may skip generations: at most 4 × 3 jobs.
    assert len(jobs) <= 4 * 3
    assert all(job.status == schedy.Job.DONE for job in jobs)
    final = {job.member: job.generation for job in jobs}
    assert len(final) == 4
    assert set(final.values()) == {3}
    # Every job after the first generation started from a checkpoint of its parent.
    by_id = {job.id: job for job in jobs}
    later = [job for job in jobs if job.generation > 1]
    assert len(loaded) == len(later) == len(jobs) - 4
    for job in later:
        trained = json.loads(Path(job.results["model_path"]).read_text())
        assert trained["steps"] == job.generation
        assert by_id[job.parent].generation == job.generation - 1
    assert db.get_experiment("MNIST with PBT").status == schedy.Experiment.DONE
