"""Grid search through real services: 16 workers, two service processes, every cell exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.server.conftest import exp_path

WORKERS = 16
GRID = {"a": list(range(12)), "b": ["x", "y", "z", "w", "v"], "c": [0.5, 1.5, 2.5, 3.5]}
CELLS = 12 * 5 * 4
WORKER_SECONDS = 240


@pytest.fixture
def second_server(server: ServiceProcess, tmp_path) -> Iterator[ServiceProcess]:
    """Another service process on the same database as the session's server."""
    process = ServiceProcess.start(tmp_path / "second", server.database_url)
    yield process
    process.stop()


def _session(url: str, email: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120)
    jwt = client.post("token/", json={"email": email, "token": token}).json()["token"]
    client.headers["Authorization"] = f"Bearer {jwt}"
    return client


def _work(client: httpx.Client, exp: str) -> list[str]:
    """Claim and finish cells until the service has nothing more (bounded in claims and time)."""
    cells: list[str] = []
    deadline = time.monotonic() + WORKER_SECONDS
    while True:
        if time.monotonic() > deadline or len(cells) > CELLS:
            pytest.fail(f"a worker was still claiming after {len(cells)} cells")
        answer = client.post(f"{exp}nextjob/", json={"worker": threading.current_thread().name})
        if answer.status_code == 204:
            return cells
        assert answer.status_code == 200, answer.text
        job = answer.json()
        cells.append(json.dumps(job["hyperparameters"], sort_keys=True))
        finished = client.put(
            f"{exp}jobs/{job['id']}/",
            json={"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {}},
            headers={"If-Match": answer.headers["etag"]},
        )
        assert finished.status_code == 200, finished.text


def test_sixteen_workers_on_two_processes_get_every_cell_exactly_once(service, api, second_server):
    exp = api.create_experiment("grid", {"GridSearch": GRID}, seed=3)
    urls = [service.url, second_server.url]
    clients = [_session(urls[i % 2], service.email, service.api_token) for i in range(WORKERS)]
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            handed = [cell for f in [pool.submit(_work, c, exp) for c in clients] for cell in f.result()]
    finally:
        for client in clients:
            client.close()
    assert [cell for cell, n in Counter(handed).items() if n > 1] == []
    assert len(handed) == CELLS
    jobs = api.all_jobs("grid", limit=1000)
    assert len(jobs) == CELLS
    assert Counter(j["status"] for j in jobs) == {"DONE": CELLS}
    assert api.http.get(exp_path("grid")).json()["status"] == "DONE"
    # The order is shuffled, not the grid's own.
    ordered = sorted(jobs, key=lambda j: j["createdAt"])
    firsts = [j["hyperparameters"]["a"] for j in ordered[:20]]
    assert firsts != sorted(firsts)


def test_the_same_seed_gives_the_same_order(api):
    orders = []
    for name in ("seeded-1", "seeded-2"):
        exp = api.create_experiment(name, {"GridSearch": {"a": list(range(10))}}, seed=11)
        order = []
        while (answer := api.http.post(f"{exp}nextjob/")).status_code == 200:
            job = answer.json()
            order.append(job["hyperparameters"]["a"])
            api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "DONE", "hyperparameters": job["hyperparameters"]})
        orders.append(order)
    assert orders[0] == orders[1]
    assert sorted(orders[0]) == list(range(10))


def test_a_lapsed_cell_is_retried_by_the_sweep_once_and_not_handed_out_again(api):
    exp = api.create_experiment("grid-retry", {"GridSearch": {"a": [1, 2]}}, maxRetries=1)
    first = api.request("POST", f"{exp}nextjob/", {"heartbeat": 0.2}).json()
    deadline = time.monotonic() + 30
    while api.http.get(f"{exp}jobs/{first['id']}/").json()["status"] != "CRASHED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    handed = []
    while (answer := api.http.post(f"{exp}nextjob/")).status_code == 200:
        job = answer.json()
        handed.append((job["hyperparameters"]["a"], job["attempt"]))
        api.request("PUT", f"{exp}jobs/{job['id']}/", {"status": "DONE", "hyperparameters": job["hyperparameters"]})
    other = 2 if first["hyperparameters"]["a"] == 1 else 1
    assert handed == [(first["hyperparameters"]["a"], 2), (other, 1)]
    assert api.http.get(exp_path("grid-retry")).json()["status"] == "DONE"


def test_a_continuous_distribution_is_refused_with_a_sentence(api):
    answer = api.request(
        "PUT",
        exp_path("grid-bad"),
        {"status": "RUNNING", "scheduler": {"GridSearch": {"lr": {"loguniform": {"low": 1e-5, "high": 1}}}}},
        headers={"If-None-Match": "*"},
    )
    assert answer.status_code == 422
    assert "'loguniform' is continuous" in answer.text


def test_the_client_builds_and_reads_back_a_grid(service):
    import schedy
    from schedy.random import Integer

    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.GridSearch("client-grid", {"n": Integer(1, 3), "opt": ["sgd", "adam"]}))
    exp = db.get_experiment("client-grid")
    assert isinstance(exp, schedy.GridSearch)
    assert exp.grid == {"n": Integer(1, 3), "opt": ["sgd", "adam"]}
    cells = set()
    for job in exp.jobs():
        with job:
            cells.add((job.hyperparameters["n"], job.hyperparameters["opt"]))
    assert len(cells) == 6


def test_64_bit_seeds_are_distinct_cells_each_handed_out_once(service):
    """Integers past a float's 53 bits (a sweep of 64-bit seeds) are as many cells as values, not one."""
    import schedy

    seeds = [2**62 + i for i in range(3)]
    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.GridSearch("seeds", {"seed": seeds, "opt": ["sgd", "adam"]}))
    exp = db.get_experiment("seeds")
    assert exp.grid["seed"] == seeds
    cells = []
    for job in exp.jobs():
        with job:
            cells.append((job.hyperparameters["seed"], job.hyperparameters["opt"]))
    assert sorted(cells) == sorted((seed, opt) for seed in seeds for opt in ("sgd", "adam"))
    assert db.get_experiment("seeds").status == "DONE"


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_cell_whose_job_raised_is_retried_per_max_retries(service, max_retries):
    """A worker's exception ends the cell's job CRASHED; with maxRetries the grid hands the cell out again."""
    import schedy

    db = schedy.SchedyDB(config_override=service.client_config)
    grid = schedy.GridSearch(f"grid-raised-{max_retries}", {"a": [1, 2, 3]})
    if max_retries:
        grid.extra["maxRetries"] = max_retries
    db.add_experiment(grid)
    exp = db.get_experiment(grid.name)
    handed = []
    for job in exp.jobs():
        handed.append((job.hyperparameters["a"], job.attempt))
        try:
            with job:
                if job.hyperparameters["a"] == 2 and job.attempt == 1:
                    raise RuntimeError("out of memory")
                job.results["loss"] = job.hyperparameters["a"]
        except RuntimeError:
            pass
    statuses = Counter((j.hyperparameters["a"], j.status) for j in exp.all_jobs())
    if max_retries:
        assert sorted(handed) == [(1, 1), (2, 1), (2, 2), (3, 1)]
        assert statuses == {(1, "DONE"): 1, (2, "CRASHED"): 1, (2, "DONE"): 1, (3, "DONE"): 1}
    else:
        assert sorted(handed) == [(1, 1), (2, 1), (3, 1)]
        assert statuses == {(1, "DONE"): 1, (2, "CRASHED"): 1, (3, "DONE"): 1}
    assert db.get_experiment(grid.name).status == "DONE"


def test_a_retried_cell_takes_nothing_from_the_budget(service):
    """maxJobs counts the cells the grid hands out; a cell's retry after it raised is not a new one."""
    import schedy

    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.GridSearch("grid-budget", {"a": [1, 2, 3, 4]}, max_jobs=2, max_retries=1))
    exp = db.get_experiment("grid-budget")
    handed = []
    for job in exp.jobs():
        handed.append((job.hyperparameters["a"], job.attempt))
        try:
            with job:
                if len(handed) == 1:
                    raise RuntimeError("out of memory")
        except RuntimeError:
            pass
    assert len(handed) == 3
    assert [attempt for _, attempt in handed] == [1, 2, 1]
    assert len({a for a, _ in handed}) == 2  # two cells, the first of them twice
    assert db.get_experiment("grid-budget").status == "DONE"


def test_a_cell_that_raised_after_the_budget_was_spent_is_still_retried(service):
    """The last cell of a budget raising is retried as a lapsed one would be: the budget limits new cells only."""
    import schedy

    db = schedy.SchedyDB(config_override=service.client_config)
    db.add_experiment(schedy.GridSearch("grid-spent", {"a": [1, 2, 3, 4]}, max_jobs=2, max_retries=2))
    exp = db.get_experiment("grid-spent")
    handed = []
    for job in exp.jobs():
        handed.append((job.hyperparameters["a"], job.attempt))
        try:
            with job:
                if len(handed) in (2, 3):  # the budget's last cell raises twice, then succeeds
                    raise RuntimeError("out of memory")
        except RuntimeError:
            pass
    assert [attempt for _, attempt in handed] == [1, 1, 2, 3]
    assert handed[1][0] == handed[2][0] == handed[3][0] != handed[0][0]
    back = db.get_experiment("grid-spent")
    assert back.status == "DONE"
    assert sorted(j.status for j in back.all_jobs()) == ["CRASHED", "CRASHED", "DONE", "DONE"]
