"""Writers racing for one key (a note, an artifact's name, a new experiment's name): each answered, never 500.

Each of these used to read, then insert when nothing was there: on PostgreSQL two
requests at once both found nothing, both inserted, and one failed on the key (a 500,
or a 412 for a plain ``PUT`` of an experiment that asked for no precondition). SQLite's
write transactions take turns, so only PostgreSQL showed it; both are run.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server.conftest import Api, exp_path

THREADS = 8
ROUNDS = 6


def _race(api: Api, send: Callable[[httpx.Client, int, int], httpx.Response]) -> Counter[int]:
    """``send(client, round, thread)`` from THREADS clients at once, ROUNDS times; the statuses answered."""
    clients = [httpx.Client(base_url=api.http.base_url, headers=api.http.headers, timeout=60) for _ in range(THREADS)]
    statuses: Counter[int] = Counter()
    try:
        for round_ in range(ROUNDS):
            start = threading.Barrier(THREADS)

            def one(i: int, round_: int = round_, start: threading.Barrier = start) -> int:
                start.wait()
                return send(clients[i], round_, i).status_code

            with ThreadPoolExecutor(THREADS) as pool:
                statuses.update(pool.map(one, range(THREADS)))
    finally:
        for client in clients:
            client.close()
    return statuses


def _job(api: Api, name: str) -> str:
    api.create_experiment(name)
    answer = api.add_job(name, status="QUEUED", hyperparameters={})
    assert answer.status_code == 201, answer.text
    job_id: str = answer.json()["id"]
    return job_id


def test_notes_saved_at_once_are_all_kept_the_last_one_wins(api: Api) -> None:
    job = _job(api, "notes")
    job_path = f"{exp_path('notes')}jobs/{job}/"

    def save(client: httpx.Client, round_: int, i: int) -> httpx.Response:
        where = exp_path("notes") if i % 2 else job_path  # half on the experiment, half on its job
        return client.put(where + "notes/", json={"text": f"note {round_}.{i}"})

    statuses = _race(api, save)
    assert statuses == {200: THREADS * ROUNDS}
    last = ROUNDS - 1
    assert api.http.get(exp_path("notes") + "notes/").json()["text"] in {
        f"note {last}.{i}" for i in range(1, THREADS, 2)
    }
    assert api.http.get(job_path + "notes/").json()["text"] in {f"note {last}.{i}" for i in range(0, THREADS, 2)}


def test_uploads_of_one_artifact_name_at_once_all_succeed_and_one_is_kept(api: Api) -> None:
    job = _job(api, "uploads")
    bodies = {i: f"checkpoint from writer {i}".encode() * 100 for i in range(THREADS)}

    def upload(client: httpx.Client, round_: int, i: int) -> httpx.Response:
        body = bodies[i]
        headers = {"X-Schedy-Sha256": hashlib.sha256(body).hexdigest(), "Content-Type": "application/octet-stream"}
        return client.put(f"{exp_path('uploads')}jobs/{job}/artifacts/model.pt/", content=body, headers=headers)

    statuses = _race(api, upload)
    assert statuses == {201: THREADS * ROUNDS}
    listing = api.http.get(f"{exp_path('uploads')}jobs/{job}/artifacts/").json()["items"]
    assert [a["name"] for a in listing] == ["model.pt"]
    kept = api.http.get(f"{exp_path('uploads')}jobs/{job}/artifacts/model.pt/").content
    assert kept in bodies.values()  # one writer's file, whole


def test_workers_creating_the_same_experiment_at_once_each_get_200_or_201(api: Api) -> None:
    # As workers starting the same script do with the 0.1.0b6 client: a plain PUT, no precondition.
    body = {"status": "RUNNING", "scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}}

    def create(client: httpx.Client, round_: int, i: int) -> httpx.Response:
        return client.put(exp_path(f"same-{round_}"), json=body)

    statuses = _race(api, create)
    assert statuses[201] == ROUNDS  # each name created once
    assert statuses == {201: ROUNDS, 200: (THREADS - 1) * ROUNDS}
