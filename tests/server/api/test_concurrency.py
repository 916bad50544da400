"""Many workers, two service processes, one database: every job handed out exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from schedy.testing import ServiceProcess

WORKERS = 16
JOBS = 2000
# A worker's loop fails after this long, well before pytest's 600 s timeout would stop it without a word.
WORKER_SECONDS = 300


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


def _work(client: httpx.Client, exp: str, use_get: bool, limit: int | None) -> list[str]:
    """Claim and finish jobs until none is left (or ``limit`` is reached).

    Bounded: a claim that hands a job out again, or a queue that never runs
    dry, fails the test with what went wrong instead of looping until the
    timeout.
    """
    done: list[str] = []
    seen: set[str] = set()
    deadline = time.monotonic() + WORKER_SECONDS
    while limit is None or len(done) < limit:
        if time.monotonic() > deadline:
            pytest.fail(f"a worker was still claiming after {WORKER_SECONDS} s ({len(done)} jobs finished)")
        if use_get:  # the 0.1.0b6 client: GET nextjob, then PUT RUNNING with If-Match
            answer = client.get(f"{exp}nextjob/")
            if answer.status_code == 204:
                return done
            assert answer.status_code == 200, answer.text
            job = answer.json()
            answer = client.put(
                f"{exp}jobs/{job['id']}/",
                json={"status": "RUNNING", "hyperparameters": job["hyperparameters"]},
                headers={"If-Match": answer.headers["etag"]},
            )
        else:
            answer = client.post(f"{exp}nextjob/", json={"worker": threading.current_thread().name})
            if answer.status_code == 204:
                return done
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert job["status"] == "RUNNING"
        assert job["id"] not in seen, f"job {job['id']} was handed to the same worker twice"
        if len(done) >= JOBS:
            pytest.fail(f"a worker finished all {JOBS} jobs queued and was handed one more: claims repeat")
        finished = client.put(
            f"{exp}jobs/{job['id']}/",
            json={"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"by": id(client)}},
            headers={"If-Match": answer.headers["etag"]},
        )
        # A job handed to two workers would fail here for one of them.
        assert finished.status_code == 200, finished.text
        done.append(job["id"])
        seen.add(job["id"])
    return done


def _run_workers(service, urls: list[str], exp: str, *, limit: int | None = None) -> list[str]:
    clients = [_session(urls[i % len(urls)], service.email, service.api_token) for i in range(WORKERS)]
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(_work, c, exp, i % 4 == 0, limit) for i, c in enumerate(clients)]
            return [job_id for f in futures for job_id in f.result()]
    finally:
        for client in clients:
            client.close()


def test_workers_drain_a_queue_each_job_exactly_once(service, api, second_server):
    exp = api.create_experiment("drain")
    with ThreadPoolExecutor(8) as pool:
        queued = list(pool.map(lambda i: api.add_job("drain", hyperparameters={"i": i}).json()["id"], range(JOBS)))
    handed = _run_workers(service, [service.url, second_server.url], exp)
    counts = Counter(handed)
    assert [job_id for job_id, n in counts.items() if n > 1] == []
    assert sorted(handed) == sorted(queued)
    jobs = api.all_jobs("drain", limit=1000)
    assert Counter(j["status"] for j in jobs) == {"DONE": JOBS}


def test_random_search_hands_out_thousands_of_distinct_jobs(service, api, second_server):
    exp = api.create_experiment("random", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
    handed = _run_workers(service, [service.url, second_server.url], exp, limit=JOBS // WORKERS)
    assert len(handed) == JOBS
    assert len(set(handed)) == JOBS
    jobs = api.all_jobs("random", limit=1000)
    assert len(jobs) == JOBS
    assert Counter(j["status"] for j in jobs) == {"DONE": JOBS}
    assert len({j["hyperparameters"]["x"] for j in jobs}) == JOBS
