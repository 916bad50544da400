"""Experiments with data for the dashboard tests: through the API, or bulk-loaded through the store."""

from __future__ import annotations

import json
import math
import random
import time
from typing import Any
from urllib.parse import quote

import httpx

from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.testing import Credentials


def client(user: Credentials) -> httpx.Client:
    """An API client logged in with the user's API token."""
    # A connection idle for 2 s is not reused: the service closes one idle for 5 s (uvicorn's keep-alive),
    # httpx's own expiry is 5 s too, and a request sent on it as the service closes it fails ("Server
    # disconnected without sending a response", seen once after a test's browser work).
    http = httpx.Client(base_url=user.url, timeout=60, limits=httpx.Limits(keepalive_expiry=2.0))
    answer = http.post("token/", json={"email": user.email, "token": user.api_token})
    answer.raise_for_status()
    http.headers["Authorization"] = "Bearer " + answer.json()["token"]
    return http


def exp_path(name: str) -> str:
    return f"experiments/{quote(name, safe='')}/"


def put(http: httpx.Client, path: str, body: Any, **headers: str) -> httpx.Response:
    answer = http.put(path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    assert answer.status_code in (200, 201), answer.text
    return answer


def random_search(http: httpx.Client, name: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A random search of ``n`` jobs with a loss (some NaN, one Infinity), a loss curve, and mixed statuses.

    Returns the jobs as the API answers them.
    """
    rng = random.Random(seed)
    put(
        http,
        exp_path(name),
        {
            "scheduler": {
                "RandomSearch": {
                    "lr": {"loguniform": {"low": 1e-4, "high": 0.1}},
                    "layers": {"choice": {"values": [1, 2, 3, 4]}},
                    "dropout": {"uniform": {"low": 0.0, "high": 0.5}},
                }
            }
        },
        **{"If-None-Match": "*"},
    )
    jobs = []
    for i in range(n):
        lr, layers, dropout = 10 ** rng.uniform(-4, -1), rng.choice([1, 2, 3, 4]), rng.uniform(0, 0.5)
        loss = (math.log10(lr) + 2.5) ** 2 + 0.1 * layers + dropout + rng.gauss(0, 0.05)
        status = "DONE"
        if i % 37 == 5:
            status = "CRASHED"
        elif i % 29 == 3:
            status = "QUEUED"
        results: dict[str, Any] = {}
        if status == "DONE":
            results = {
                "loss": math.nan if i % 50 == 7 else (math.inf if i == 11 else round(loss, 6)),
                "accuracy": round(1 / (1 + loss), 6),
                "loss_curve": [round(loss * (1 + 2 / (e + 1)), 5) for e in range(8)],
            }
        hyperparameters = {"lr": lr, "layers": layers, "dropout": dropout}
        body = {"status": status, "hyperparameters": hyperparameters, "results": results}
        answer = http.post(exp_path(name) + "jobs/", content=json.dumps(body))
        assert answer.status_code == 201, answer.text
        jobs.append(answer.json())
    return jobs


def pbt(http: httpx.Client, name: str, members: int = 6, generations: int = 6, seed: int = 3) -> list[dict[str, Any]]:
    """A PBT run through the real scheduler (``nextjob``), on the toy problem of PBT.md, one worker."""
    put(
        http,
        exp_path(name),
        {
            "scheduler": {
                "PBT": {
                    "objective": "max",
                    "qualityResultName": "Q",
                    "exploit": {"truncate": 0.34},
                    "explore": {
                        "h0": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}},
                        "h1": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}},
                    },
                    "init": {"h0": {"uniform": {"low": 0, "high": 1}}, "h1": {"uniform": {"low": 0, "high": 1}}},
                    "numParallel": members,
                    "maxGenerations": generations,
                }
            },
            "seed": seed,
        },
        **{"If-None-Match": "*"},
    )
    done = []
    while True:
        answer = http.post(exp_path(name) + "nextjob/", content=b"{}")
        if answer.status_code == 204:
            return done
        job = answer.json()
        theta = job["results"].get("theta", [0.9, 0.9])
        h0, h1 = job["hyperparameters"]["h0"], job["hyperparameters"]["h1"]
        for _ in range(4):
            theta = [theta[0] - 0.01 * 2 * h0 * theta[0], theta[1] - 0.01 * 2 * h1 * theta[1]]
        q = 1.2 - (theta[0] ** 2 + theta[1] ** 2)
        body = {"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"theta": theta, "Q": q}}
        put(http, exp_path(name) + f"jobs/{job['id']}/", body, **{"If-Match": answer.headers["ETag"]})
        done.append({**job, "results": body["results"]})


def bulk(database_url: str, email: str, name: str, n: int, seed: int = 0) -> None:
    """Create experiment ``name`` of user ``email`` with ``n`` DONE jobs, loaded in one transaction."""
    rng = random.Random(seed)
    store = Store(database_url, pool_size=1)
    try:
        with store.write() as conn:
            user = users.by_email(conn, email)
            assert user is not None
            row = store_experiments.create(
                conn,
                user.id,
                name,
                "RUNNING",
                "RandomSearch",
                json.dumps(
                    {
                        "lr": {"loguniform": {"low": 1e-4, "high": 0.1}},
                        "layers": {"choice": {"values": [1, 2, 3, 4]}},
                    }
                ),
                "{}",
            )
            assert row is not None
            t0 = float(row.created_at)
            rows = []
            for i in range(n):
                lr, layers = 10 ** rng.uniform(-4, -1), rng.choice([1, 2, 3, 4])
                loss = (math.log10(lr) + 2.5) ** 2 + 0.1 * layers + rng.gauss(0, 0.05)
                rows.append(
                    {
                        "job_id": f"b{i:07d}",
                        "status": "DONE",
                        "hyperparameters": json.dumps({"lr": lr, "layers": layers}),
                        "results": json.dumps({"loss": loss, "accuracy": 1 / (1 + loss)}),
                        "created_at": t0 + i * 0.01,
                        "started_at": t0 + i * 0.01,
                        "finished_at": t0 + i * 0.01 + 0.5,
                        "updated_at": t0 + i * 0.01 + 0.5,
                        "worker": f"w{i % 16}",
                    }
                )
            stats.insert_many(conn, row.id, rows)
    finally:
        store.dispose()


def add_done(
    database_url: str, email: str, name: str, n: int, prefix: str = "more", results: dict[str, float] | None = None
) -> None:
    """Add ``n`` DONE jobs, updated now, to the existing experiment ``name`` of user ``email``.

    Their results are ``{"loss": 1 + i}``, or ``results`` when given.
    """
    store = Store(database_url, pool_size=1)
    try:
        with store.write() as conn:
            user = users.by_email(conn, email)
            assert user is not None
            row = store_experiments.get(conn, user.id, name)
            assert row is not None
            now = time.time()
            stats.insert_many(
                conn,
                row.id,
                [
                    {
                        "job_id": f"{prefix}{i}",
                        "status": "DONE",
                        "hyperparameters": json.dumps({"lr": 0.01, "layers": 1}),
                        "results": json.dumps({"loss": 1.0 + i} if results is None else results),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(n)
                ],
            )
    finally:
        store.dispose()
