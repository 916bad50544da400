"""``Experiment.events()``: the PBT exploit log through the client, against the real service."""

from __future__ import annotations

from datetime import datetime

import pytest

import schedy
from schedy.errors import DefinitionError
from schedy.pbt import Perturb, Truncate
from schedy.random import Uniform


def test_every_exploit_of_a_pbt_run_is_in_the_event_log(db):
    exp = schedy.PopulationBasedTraining(
        "events", "max", "score", Truncate(0.5), {"lr": Perturb()},
        initial_distributions={"lr": Uniform(0.1, 1.0)}, population_size=4, max_generations=4,
    )  # fmt: skip
    exp.extra["seed"] = 3
    db.add_experiment(exp)
    exp = db.get_experiment("events")
    jobs = []
    for job in exp.jobs():
        with job:
            job.results["score"] = job.hyperparameters["lr"]
        jobs.append(job)
    events = list(exp.events())
    exploits = [e for e in events if e["kind"] == "exploit"]
    assert exploits, "a population of 4 over 4 generations with truncation 0.5 exploits"
    assert all(isinstance(e["time"], datetime) for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # oldest first
    by_id = {j.job_id: j for j in exp.all_jobs()}
    for event in exploits:
        assert by_id[event["sourceJob"]].status == "DONE"
        assert event["newHyperparameters"] != event["oldHyperparameters"] or event["forced"]


def test_resample_or_clip_needs_an_init_distribution_in_the_client_too():
    with pytest.raises(DefinitionError, match="init has none for 'lr'"):
        schedy.PopulationBasedTraining("x", "max", "score", Truncate(0.2), {"lr": Perturb(clip=True)})
