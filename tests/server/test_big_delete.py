"""Deleting a big experiment never stalls the service: its jobs go in short batches, its name is free at once.

One long DELETE used to hold SQLite's write lock for seconds (6 s for a million jobs), and every claim
waited behind it. (Real service over HTTP; SQLite and PostgreSQL.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import func, select

from schedy.server.service.experiments import DELETE_BATCH
from schedy.server.service.jobs import new_job_id
from schedy.server.store import Store
from schedy.server.store.tables import experiments, jobs
from tests.server.conftest import exp_path

JOBS = 60_000


def _load(url: str, owner_email: str, name: str, n: int) -> int:
    """Insert ``n`` QUEUED jobs straight into the database; the experiment's id."""
    from sqlalchemy import insert

    from schedy.server.store.tables import users

    store = Store(url, pool_size=1)
    try:
        with store.write() as conn:
            owner = conn.execute(select(users.c.id).where(users.c.email == owner_email)).scalar_one()
            exp_id = conn.execute(
                select(experiments.c.id).where(experiments.c.owner_id == owner, experiments.c.name == name)
            ).scalar_one()
            now = time.time()
            rows = [
                {"experiment_id": exp_id, "job_id": new_job_id(), "status": "QUEUED", "priority": 0,
                 "hyperparameters": "{}", "results": "{}", "version": 1, "created_at": now, "updated_at": now,
                 "attempt": 1}
                for _ in range(n)
            ]  # fmt: skip
            for start in range(0, n, 10_000):
                conn.execute(insert(jobs), rows[start : start + 10_000])
        return int(exp_id)
    finally:
        store.dispose()


def _jobs_of(url: str, exp_id: int) -> int:
    store = Store(url, pool_size=1)
    try:
        with store.read() as conn:
            return int(conn.execute(select(func.count()).where(jobs.c.experiment_id == exp_id)).scalar_one())
    finally:
        store.dispose()


def test_a_big_delete_runs_in_batches_while_the_service_answers(api: Any, service: Any) -> None:
    assert JOBS > 20 * DELETE_BATCH  # many batches, not one statement
    api.create_experiment("big")
    api.create_experiment("other")
    for i in range(50):
        api.add_job("other", hyperparameters={"i": i})
    exp_id = _load(service.process.database_url, api.user.email, "big", JOBS)

    answer: dict[str, Any] = {}

    def delete() -> None:
        started = time.monotonic()
        answer["response"] = api.http.delete(exp_path("big"), timeout=300)
        answer["seconds"] = time.monotonic() - started

    deleter = threading.Thread(target=delete)
    deleter.start()
    pauses, claims, renamed = [], 0, None
    # How many of the big experiment's jobs were left when each claim was answered.
    left: list[int] = []
    reader = Store(service.process.database_url, pool_size=1)
    while deleter.is_alive():
        started = time.monotonic()
        assert api.http.get("ping/").status_code == 200
        claimed = api.request("POST", exp_path("other") + "nextjob/", {})
        assert claimed.status_code in (200, 204)
        claims += claimed.status_code == 200
        pauses.append(time.monotonic() - started)
        with reader.read() as conn:
            left.append(int(conn.execute(select(func.count()).where(jobs.c.experiment_id == exp_id)).scalar_one()))
        if renamed is None and api.http.get(exp_path("big")).status_code == 404:
            # Once the delete started, the name is free: a new experiment of that name is a fresh one,
            # not the one going away. (A PUT that arrives before the delete starts replaces the old
            # experiment, which the delete then removes.)
            renamed = api.request("PUT", exp_path("big"), {"status": "RUNNING", "scheduler": {"Manual": None}})
        time.sleep(0.02)
    deleter.join()
    reader.dispose()
    if renamed is None:  # the delete was over before this thread saw it start
        renamed = api.request("PUT", exp_path("big"), {"status": "RUNNING", "scheduler": {"Manual": None}})
    assert answer["response"].status_code == 204
    assert _jobs_of(service.process.database_url, exp_id) == 0
    names = [e["name"] for e in api.http.get("experiments/").json()["items"]]
    assert sorted(names) == ["big", "other"]  # the new "big"; nothing half-deleted is listed
    assert api.http.get(exp_path("big") + "jobs/").json()["items"] == []
    assert renamed is not None
    assert renamed.status_code == 201
    # Other requests went on between the batches: claims were answered with the delete part-way, at
    # several points. (One statement answered them before it began or after it ended: all or none
    # of the jobs left.) Not a bound on the pauses: on a loaded machine a single one may be long.
    assert claims >= 1
    partway = sorted({n for n in left if 0 < n < JOBS}, reverse=True)
    assert len(partway) >= 2, (partway, max(pauses), answer["seconds"])
