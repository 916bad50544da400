"""Random search, i.i.d. and quasi-random (Sobol, Halton): coverage, seeding, the wire form, many workers."""

from __future__ import annotations

import json
import random
import statistics
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from scipy.stats import qmc

import schedy
from schedy.errors import DefinitionError
from schedy.random import Choice, Uniform
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.random_search import QuasiRandomSearch, RandomSearch
from schedy.server.schedulers.registry import parse_scheduler

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}, "y": {"uniform": {"low": 0, "high": 1}}}


def points(search: RandomSearch, n: int, seed: int) -> list[dict[str, Any]]:
    """n jobs decided one after the other, as one worker would get them (each decision its own RNG, as the claim)."""
    jobs: list[JobView] = []
    for i in range(n):
        job = search.decide(Snapshot(tuple(jobs), key=seed), random.Random(f"{seed}:{i}")).job
        assert job is not None
        jobs.append(JobView(str(i), "DONE", job.hyperparameters, {}, float(i)))
    return [j.hyperparameters for j in jobs]


def discrepancy(hps: list[dict[str, Any]]) -> float:
    return float(qmc.discrepancy(np.array([[h["x"], h["y"]] for h in hps])))


@pytest.mark.parametrize("sampler", ["sobol", "halton"])
def test_quasi_random_covers_the_space_better_than_iid_draws(sampler):
    quasi = parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": sampler}})
    iid = parse_scheduler({"RandomSearch": SPACE})
    assert isinstance(quasi, QuasiRandomSearch)
    assert quasi.reads_history
    assert not iid.reads_history
    ours = [discrepancy(points(quasi, 64, seed)) for seed in range(5)]
    theirs = [discrepancy(points(iid, 64, seed)) for seed in range(5)]
    # Centred L2 discrepancy of 64 points: several times lower than i.i.d. draws', seed for seed.
    assert max(ours) < min(theirs)
    assert statistics.median(ours) * 4 < statistics.median(theirs)


def test_quasi_random_is_one_sequence_keyed_by_the_experiment():
    search = parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}})
    assert isinstance(search, RandomSearch)
    first, again, other = points(search, 16, 1), points(search, 16, 1), points(search, 16, 2)
    assert first == again
    assert first != other
    assert len({json.dumps(h, sort_keys=True) for h in first}) == 16
    # 16 Sobol points: one in each sixteenth of [0, 1) on every axis.
    assert sorted(int(h["x"] * 16) for h in first) == list(range(16))
    # Point i depends on the experiment's key and i alone, not on the decision's RNG.
    again_other_rngs = search.decide(Snapshot(key=1), random.Random(99)).job
    assert again_other_rngs is not None
    assert again_other_rngs.hyperparameters == first[0]


def test_quasi_random_samples_conditional_spaces_and_choices():
    space = {
        "opt": {
            "choice": {"values": ["sgd", "adam"], "branches": {"sgd": {"momentum": {"uniform": {"low": 0, "high": 1}}}}}
        },
        "layers": {"integer": {"low": 1, "high": 4}},
    }
    search = parse_scheduler({"RandomSearch": {"distributions": space, "sampler": "halton"}})
    hps = points(search, 32, 0)
    assert {h["opt"] for h in hps} == {"sgd", "adam"}
    assert {h["layers"] for h in hps} == {1, 2, 3, 4}
    assert all(("momentum" in h) == (h["opt"] == "sgd") for h in hps)


def test_wire_forms_round_trip_and_iid_keeps_the_old_form():
    iid = parse_scheduler({"RandomSearch": SPACE})
    assert iid.to_params() == SPACE
    sobol = parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "sobol"}})
    assert sobol.to_params() == {"distributions": SPACE, "sampler": "sobol"}
    # A space whose hyperparameters happen to be called "distributions" and "sampler" is still a space.
    odd = {"distributions": {"uniform": {"low": 0, "high": 1}}, "sampler": {"const": 3}}
    assert parse_scheduler({"RandomSearch": odd}).to_params() == odd


def test_an_unknown_sampler_is_refused_in_one_sentence():
    with pytest.raises(DefinitionError, match=r"RandomSearch sampler must be one of iid, sobol, halton, got 'lhs'\."):
        parse_scheduler({"RandomSearch": {"distributions": SPACE, "sampler": "lhs"}})
    with pytest.raises(DefinitionError, match="sampler must be one of"):
        schedy.RandomSearch("r", {"x": Uniform(0, 1)}, sampler="grid")


def _work(url: str, email: str, token: str, exp: str, claims: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=120) as client:
        jwt = client.post("token/", json={"email": email, "token": token}).json()["token"]
        client.headers["Authorization"] = f"Bearer {jwt}"
        handed = []
        for _ in range(claims):
            answer = client.post(f"experiments/{exp}/nextjob/", json={"worker": threading.current_thread().name})
            if answer.status_code == 204:
                break
            assert answer.status_code == 200, answer.text
            job = answer.json()
            handed.append(json.dumps(job["hyperparameters"], sort_keys=True))
            done = client.put(
                f"experiments/{exp}/jobs/{job['id']}/",
                json={"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {}},
                headers={"If-Match": answer.headers["etag"]},
            )
            assert done.status_code == 200, done.text
    return handed


def test_eight_workers_get_each_point_of_the_sequence_once(service):
    db = schedy.SchedyDB(config_override=service.client_config)
    space = {"x": Uniform(0, 1), "c": Choice(["a", "b", "c"])}
    for name in ("alone", "crowd"):
        exp = schedy.RandomSearch(name, space, sampler="sobol", max_jobs=64)
        exp.extra["seed"] = 11
        db.add_experiment(exp)
    back = db.get_experiment("crowd")
    assert isinstance(back, schedy.RandomSearch)
    assert back.sampler == "sobol"
    alone = _work(service.url, service.email, service.api_token, "alone", 100)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_work, service.url, service.email, service.api_token, "crowd", 100) for _ in range(8)]
        crowd = [h for f in futures for h in f.result()]
    assert len(alone) == len(crowd) == 64
    assert len(set(crowd)) == 64
    # The same 64 points, whoever claimed them: the sequence's first 64, each handed out once.
    assert sorted(crowd) == sorted(alone)
    # ... of one sequence: 64 Sobol points put one x in each 64th of [0, 1) (i.i.d. draws leave a third empty).
    assert sorted(int(json.loads(h)["x"] * 64) for h in crowd) == list(range(64))


@pytest.mark.parametrize("sampler", ["sobol", "halton"])
def test_an_unseeded_search_hands_out_one_sequence(service, sampler):
    """Without a seed the scramble is drawn at the first decision and kept: the jobs still cover the axis evenly."""
    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.RandomSearch(f"unseeded-{sampler}", {"x": Uniform(0, 1)}, sampler=sampler, max_jobs=16))
    xs = []
    for job in db.get_experiment(f"unseeded-{sampler}").jobs():
        with job:
            xs.append(job.hyperparameters["x"])
    assert len(xs) == 16
    if sampler == "sobol":
        assert sorted(int(x * 16) for x in xs) == list(range(16))
    else:  # a scrambled van der Corput sequence: its first 16 points never share a 16th either
        assert len({int(x * 16) for x in xs}) >= 14


def test_deleting_jobs_does_not_bring_their_points_back(service):
    """Crashed jobs deleted from the dashboard: the next jobs go on with the sequence, never repeat a point."""
    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.RandomSearch("pruned-away", {"x": Uniform(0, 1)}, sampler="sobol", seed=5))
    exp = db.get_experiment("pruned-away")
    first = []
    for _ in range(4):
        with exp.next_job() as job:
            first.append(job)
    for job in first[1:3]:
        job.delete()
    later = []
    for _ in range(4):
        with exp.next_job() as job:
            later.append(job.hyperparameters["x"])
    xs = [job.hyperparameters["x"] for job in first] + later
    assert len(set(xs)) == 8
    # The first 8 points of one sequence: one in each eighth of the axis.
    assert sorted(int(x * 8) for x in xs) == list(range(8))
