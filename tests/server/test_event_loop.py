"""The service keeps answering while claims and writes wait for locks or take long.

Each test holds something slow (another process's write lock; a first claim
that reads a large history) and checks, relative to when that slow thing
ended, that ``/ping/`` was answered meanwhile: the event loop never waited.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

RANDOM = {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}
PBT = {
    "PBT": {
        "objective": "max",
        "qualityResultName": "q",
        "exploit": {"truncate": 0.25},
        "explore": {"h": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}}},
        "init": {"h": {"uniform": {"low": 0, "high": 1}}},
        "numParallel": 4,
    }
}


@contextmanager
def _foreign_write_lock(database_url: str) -> Iterator[None]:
    """Another process's write lock on the jobs: SQLite's file lock, or PostgreSQL's table lock."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(database_url).database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")  # readers go on; writers wait
        try:
            yield
        finally:
            conn.rollback()


def _pings(url: str, until: threading.Event, answered: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        while not until.is_set():
            assert http.get("ping/").status_code == 200
            answered.append(time.monotonic())
            time.sleep(0.05)


def _in_thread(target: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = target(*args)
        finally:
            out["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_claim_waiting_for_another_process_lock_leaves_the_service_answering(api, service):
    api.create_experiment("waits", RANDOM)
    with _foreign_write_lock(service.process.database_url):
        claim, claimed = _in_thread(lambda: api.http.post("experiments/waits/nextjob/", json={"heartbeat": 10}))
        stop, answered = threading.Event(), []
        pinger = threading.Thread(target=_pings, args=(service.url, stop, answered), daemon=True)
        pinger.start()
        time.sleep(2.0)  # the claim is waiting for the lock all this time
        stop.set()
        pinger.join(timeout=60)
        released = time.monotonic()
        assert "at" not in claimed, "the claim went through a lock held by another process"
    claim.join(timeout=120)
    assert claimed["value"].status_code == 200, claimed["value"].text
    assert claimed["at"] >= released
    # Pings were answered all along, not only once the lock was released.
    assert len(answered) >= 5
    assert max(answered) < released


def _fill_history(database_url: str, experiment: str, n: int) -> None:
    """``n`` finished jobs of a PBT population, written straight into the database (fast)."""
    rows = [(f"h{i}", f"m{i % 4}", 1 + i // 4) for i in range(n)]
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(database_url).database, isolation_level=None, timeout=60)
        (exp_id,) = conn.execute("SELECT id FROM experiments WHERE name = ?", (experiment,)).fetchone()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
            "created_at, updated_at, finished_at, member, generation, attempt) "
            "VALUES (?, ?, 'DONE', 0, '{\"h\": 0.5}', '{\"q\": 1.0}', 1, 0, 0, 0, ?, ?, 1)",
            [(exp_id, *row) for row in rows],
        )
        conn.execute("COMMIT")
        conn.close()
        return
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        (exp_id,) = conn.execute("SELECT id FROM experiments WHERE name = %s", (experiment,)).fetchone()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, finished_at, member, generation, attempt) "
                "VALUES (%s, %s, 'DONE', 0, '{\"h\": 0.5}', '{\"q\": 1.0}', 1, 0, 0, 0, %s, %s, 1)",
                [(exp_id, *row) for row in rows],
            )


def test_the_first_claim_reading_a_large_history_runs_off_the_event_loop(api, service):
    # A fresh experiment: no process has its history cached, so its first claim reads every job.
    api.create_experiment("big-pbt", {"PBT": {**PBT["PBT"], "maxGenerations": 10**6}})
    _fill_history(service.process.database_url, "big-pbt", 120_000)
    stop, answered = threading.Event(), []
    pinger = threading.Thread(target=_pings, args=(service.url, stop, answered), daemon=True)
    pinger.start()
    time.sleep(0.2)
    started = time.monotonic()
    answer = api.http.post("experiments/big-pbt/nextjob/", json={"heartbeat": 10})
    finished = time.monotonic()
    stop.set()
    pinger.join(timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["hyperparameters"]["h"] > 0
    during = [t for t in answered if started < t < finished]
    if finished - started < 0.5:
        pytest.fail(f"the claim took {finished - started:.2f} s: too quick to tell; make the history larger")
    # At least one ping every half second of the claim: the loop was never held for long.
    assert len(during) >= int((finished - started) / 0.5), (len(during), finished - started)
