"""TPE through the real service: parallel workers, the model used, other experiments not held up."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

import schedy
from schedy.random import Choice, Integer, Uniform
from tests.server.conftest import exp_path

SPACE = {
    "x": {"uniform": {"low": -5, "high": 5}},
    "n": {"integer": {"low": 1, "high": 20}},
    "kind": {"choice": {"values": ["a", "b"], "branches": {"a": {"bonus": {"uniform": {"low": 0, "high": 1}}}}}},
}


def loss(h: dict) -> float:
    return (h["x"] - 1.5) ** 2 + abs(h["n"] - 7) + (0.0 if h["kind"] == "a" else 3.0) + abs(h.get("bonus", 0) - 0.2)


def _worker(url: str, email: str, token: str, jobs: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        jwt = client.post("token/", json={"email": email, "token": token}).json()["token"]
        client.headers["Authorization"] = f"Bearer {jwt}"
        for _ in range(jobs):
            answer = client.post(exp_path("tpe") + "nextjob/", json={"worker": threading.current_thread().name})
            assert answer.status_code == 200, answer.text
            job = answer.json()
            done = client.put(
                exp_path("tpe") + f"jobs/{job['id']}/",
                json={
                    "status": "DONE",
                    "hyperparameters": job["hyperparameters"],
                    "results": {"loss": loss(job["hyperparameters"])},
                },
                headers={"If-Match": answer.headers["etag"]},
            )
            assert done.status_code == 200, done.text


def test_eight_workers_improve_on_the_startup_and_other_experiments_stay_fast(service, api):
    params = {"distributions": SPACE, "objective": "min", "resultName": "loss"}
    api.create_experiment("tpe", {"TPESearch": params}, seed=1)
    api.create_experiment("other", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
    other_latencies: list[float] = []
    stop = threading.Event()

    def other_claims() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            assert api.http.post(exp_path("other") + "nextjob/").status_code == 200
            other_latencies.append(time.perf_counter() - start)

    with ThreadPoolExecutor(9) as pool:
        side = pool.submit(other_claims)
        workers = [pool.submit(_worker, service.url, service.email, service.api_token, 8) for _ in range(8)]
        for w in workers:
            w.result()
        stop.set()
        side.result()
    jobs = sorted(api.all_jobs("tpe"), key=lambda j: j["createdAt"])
    assert len(jobs) == 64
    assert all(j["status"] == "DONE" for j in jobs)
    startup = min(j["results"]["loss"] for j in jobs[:10])
    modelled = sorted(j["results"]["loss"] for j in jobs[32:])
    assert modelled[0] < startup
    assert sum(j["hyperparameters"]["kind"] == "a" for j in jobs[32:]) > 20
    assert len({(j["hyperparameters"]["x"], j["hyperparameters"]["n"]) for j in jobs}) == 64
    assert max(other_latencies) < 2.0
    assert sorted(other_latencies)[len(other_latencies) // 2] < 0.2


def test_the_startup_jobs_are_one_sobol_sequence(service):
    """16 startup jobs through the service, unseeded: one x in each 16th of the axis, as 16 Sobol points."""
    db = schedy.SchedyDB(config_override=service.client_config)
    tpe = schedy.TPESearch("tpe-startup", {"x": Uniform(0, 1)}, schedy.MINIMIZE, "y", n_startup_jobs=16, max_jobs=16)
    db.add_experiment(tpe)
    xs = []
    for job in db.get_experiment("tpe-startup").jobs():
        with job:
            xs.append(job.hyperparameters["x"])
            job.results["y"] = job.hyperparameters["x"]
    assert sorted(int(x * 16) for x in xs) == list(range(16))


def test_the_client_builds_a_tpe_search_and_reads_it_back(service):
    db = schedy.SchedyDB(config_override=service.client_config)
    space = {"x": Uniform(0, 1), "n": Integer(1, 4), "c": Choice(["p", "q"])}
    db.add_experiment(schedy.TPESearch("client-tpe", space, schedy.MAXIMIZE, "score", n_startup_jobs=3))
    exp = db.get_experiment("client-tpe")
    assert isinstance(exp, schedy.TPESearch)
    assert exp.params.n_startup_jobs == 3
    assert exp.distributions == space
    for _, job in zip(range(6), exp.jobs(), strict=False):
        with job:
            job.results["score"] = job.hyperparameters["x"]


def test_bad_objective_is_422(api):
    answer = api.request(
        "PUT",
        exp_path("tpe-bad"),
        {
            "status": "RUNNING",
            "scheduler": {"TPESearch": {"distributions": SPACE, "objective": "up", "resultName": "y"}},
        },
        headers={"If-None-Match": "*"},
    )
    assert answer.status_code == 422
    assert "objective must be 'min' or 'max'" in answer.text
