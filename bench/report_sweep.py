"""The early-stopping state's sweep on PostgreSQL: one read of the last ``OVERLAP`` seconds of reports.

One command::

    python bench/report_sweep.py [--window 2000,8000,32000] [--repeats 40]

Every service process sweeps about once a second, reading the reports of
the last 10 s of an experiment to catch rows committed out of pk order, so
the rows a sweep reads grow with the report rate (8,000 at 800 reports/s)
and are read once per process per second. This times
``reports_async.recent`` on a throwaway cluster holding a window of N
reports of which the state has seen every one (the usual case): wall time,
and the service's CPU, median of the repeats. Run it with
``PYTHONPATH=OLD/src`` to time another version's sweep (one without the
``known`` argument reads the window's full rows, as the code before
2026-12-04 did).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import backend, command_line, table, versions

from schedy.server.store import Store, migrate, reports, reports_async


def _load(store: Store, count: int) -> tuple[int, dict[int, float]]:
    """An experiment whose one job has ``count`` reports created now; its id and every pk as seen."""
    with store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        exp_id = conn.execute(
            text(
                "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, created_at, "
                "updated_at) VALUES (1, 'e', 'RUNNING', 'Manual', 'null', '{}', 0, 0) RETURNING id"
            )
        ).scalar_one()
        job_pk = conn.execute(
            text(
                "INSERT INTO jobs (experiment_id, job_id, status, priority, hyperparameters, results, version, "
                "created_at, updated_at, attempt) VALUES (:e, 'J1', 'RUNNING', 0, '{}', '{}', 1, 0, 0, 1) "
                "RETURNING pk"
            ),
            {"e": exp_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at) SELECT :e, :j, g % 20, "
                """'{"loss": 0.123456}', extract(epoch FROM now()) FROM generate_series(1, :n) g"""
            ),
            {"e": exp_id, "j": job_pk, "n": count},
        )
        conn.execute(text("ANALYZE reports"))
        seen = {int(pk): 0.0 for (pk,) in conn.execute(text("SELECT pk FROM reports"))}
    return int(exp_id), seen


async def _time(store: Store, exp_id: int, seen: dict[int, float], repeats: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of one sweep, and the rows it had to feed."""
    narrowed = "known" in inspect.signature(reports.recent).parameters
    walls, cpus, left = [], [], 0
    try:
        async with store.aio.connection() as conn:
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                if narrowed:
                    rows = await reports_async.recent(conn, exp_id, 0.0, seen, set())
                else:  # the window's full rows, filtered as the state's apply() did
                    rows = [r for r in await reports_async.recent(conn, exp_id, 0.0) if r.pk not in seen]
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                left = len(rows)
    finally:
        await store.aclose()
    return statistics.median(walls), statistics.median(cpus), left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", default="2000,8000,32000", help="reports in the window")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    rows = []
    with backend("postgres") as be:
        for count in (int(n) for n in args.window.split(",")):
            store = Store(be.new_url("sweep"))
            try:
                migrate.upgrade(store)
                exp_id, seen = _load(store, count)
                wall, cpu, left = asyncio.run(_time(store, exp_id, seen, args.repeats))
            finally:
                store.dispose()
            rows.append([f"{count:,}", f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}", str(left)])
        info = versions(be.pg)
    print(f"\n{command_line()}\n{info}\n")
    print(table(["reports in the window", "sweep wall ms", "service CPU ms", "rows left to feed"], rows))


if __name__ == "__main__":
    main()
