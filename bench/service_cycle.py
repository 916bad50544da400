"""The service layer alone, in one process, no HTTP: the cost of one claim + complete cycle.

Calls ``Jobs.claim`` then ``Jobs.put`` (If-Match, status DONE, a result) in a
loop, on a random search and on a pre-filled queue, and beside it the same
two transactions as raw DB-API calls (the database's own floor). Separates
what the store and service cost from what HTTP and the client add.

Usage::

    python bench/service_cycle.py --backends sqlite postgres --seconds 2 --reps 3
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import Spread, backend, bulk_load, log, table

from schedy.server.security import new_jwt_secret  # noqa: F401 - imported for its side effects on import time
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.store import Store, migrate, users
from schedy.server.wire import JobInput, etag, parse_experiment


def _setup(url: str) -> tuple[Store, Jobs, int]:
    store = Store(url)
    migrate.upgrade(store)
    with store.write() as conn:
        user_id = users.create(conn, "bench@example.com", None, is_admin=False)
    return store, Jobs(store), user_id


def _cycle_loop(jobs: Jobs, user_id: int, name: str, seconds: float) -> float:
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        row = jobs.claim(user_id, name, worker="w", heartbeat=30.0)
        assert row is not None
        done = JobInput(status="DONE", hyperparameters={"x": 1.0, "y": 2.0}, results={"loss": 5.0})
        jobs.put(user_id, name, row.job_id, done, if_match=etag(row.pk, row.version), if_none_match=False)
        n += 1
    return n / seconds


def _raw_loop(store: Store, exp_id: int, seconds: float) -> float:
    """Claim + complete of a queued job with precompiled SQL on the DB-API connection (one transaction each)."""
    sqlite = store.is_sqlite
    m = "?" if sqlite else "%s"
    lock = "" if sqlite else " FOR UPDATE SKIP LOCKED"
    now = "((julianday('now') - 2440587.5) * 86400.0)" if sqlite else "extract(epoch from clock_timestamp())"
    claim = (
        f"UPDATE jobs SET status='RUNNING', version=version+1, started_at={now}, updated_at={now}, worker={m} "
        f"WHERE pk = (SELECT pk FROM jobs WHERE experiment_id={m} AND status='QUEUED' "
        f"ORDER BY priority, pk LIMIT 1{lock}) RETURNING pk, version"
    )
    done = (
        f"UPDATE jobs SET status='DONE', results={m}, version=version+1, updated_at={now}, finished_at={now} "
        f"WHERE experiment_id={m} AND pk={m} AND version={m} RETURNING pk"
    )
    n = 0
    with store._write_engine.connect() as sa_conn:
        dbapi = sa_conn.connection.dbapi_connection
        assert dbapi is not None
        if not sqlite:
            dbapi.autocommit = False
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            cur = dbapi.cursor()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(claim, ("w", exp_id))
            pk, version = cur.fetchone()
            dbapi.commit() if not sqlite else cur.execute("COMMIT")
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(done, ('{"loss":5.0}', exp_id, pk, version))
            cur.fetchone()
            dbapi.commit() if not sqlite else cur.execute("COMMIT")
            n += 1
    return n / seconds


def measure(kind: str, seconds: float, reps: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"service random": [], "service queue": [], "raw SQL queue": []}
    with backend(kind) as be:
        url = be.new_url("cycle")
        store, jobs, user_id = _setup(url)
        experiments = Experiments(store)
        rand = parse_experiment(
            b'{"scheduler": {"RandomSearch": {"x": {"uniform": {"low": -10, "high": 10}}, '
            b'"y": {"uniform": {"low": -10, "high": 10}}}}}'
        )
        experiments.put(user_id, "random", rand, create_only=True)
        queue_row, _ = experiments.put(
            user_id, "queue", parse_experiment(b'{"scheduler": {"Manual": null}}'), create_only=True
        )
        raw_row, _ = experiments.put(
            user_id, "raw", parse_experiment(b'{"scheduler": {"Manual": null}}'), create_only=True
        )
        prefill = int(seconds * reps * 20_000)
        bulk_load(url, queue_row.id, prefill)
        bulk_load(url, raw_row.id, prefill)
        for rep in range(reps):
            out["service random"].append(_cycle_loop(jobs, user_id, "random", seconds))
            out["service queue"].append(_cycle_loop(jobs, user_id, "queue", seconds))
            out["raw SQL queue"].append(_raw_loop(store, raw_row.id, seconds))
            log(kind, rep, {k: round(v[-1]) for k, v in out.items()})
        store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows: list[list[Any]] = []
    for kind in args.backends:
        result = measure(kind, args.seconds, args.reps)
        raw = Spread(result["raw SQL queue"])
        for what, values in result.items():
            s = Spread(values)
            rows.append([kind, what, s.fmt(), f"{1e6 / s.median:,.0f}", f"{raw.median / s.median:.1f}×"])
    print(table(["DB", "cycle (one thread, no HTTP)", "cycles/s", "µs/cycle", "cost / raw SQL"], rows))


if __name__ == "__main__":
    main()
