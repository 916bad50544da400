"""Peak memory and wall time of ``Experiment.to_dataframe()`` on a large experiment (real service, SQLite).

Loads two experiments straight into the service's SQLite file:

* ``curves``: J DONE jobs (default 200) of S reports each (default 2,500),
  every report with ``loss``, every other one with ``acc`` too;
* ``big``: N DONE jobs (default 100,000), hyperparameters ``lr`` and
  ``opt``, result ``loss``;

starts ``schedy server``, then, in a fresh Python process for each
measurement (so that each peak is its own), reads
``to_dataframe(reports=True)`` of ``curves`` and ``to_dataframe()`` of
``big`` and prints the frame's size (``memory_usage(deep=True)``), the
process's peak RSS above what it held before the call, and the wall time.

    python bench/dataframe_memory.py [--jobs 200] [--steps 2500] [--big 100000] [--repeat 2]
                                     [--baseline OLD/src]

With ``--baseline OLD/src`` (e.g. ``git archive HEAD src | tar -x -C OLD``)
each turn also reads with that code, before and after alternating, in one
run against the same service.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection

from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.testing import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh process: the peak RSS of the call, above what the process held before it (Linux).
CHILD = """
import json, sys, time
import pandas, schedy

def high_water():  # this process's peak RSS (VmHWM: ru_maxrss would carry the parent's over fork and exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

cfg = json.loads(sys.argv[1])
experiment = schedy.SchedyDB(config_override=cfg["client"]).get_experiment(cfg["experiment"])
before = high_water()
started = time.perf_counter()
frame = experiment.to_dataframe(reports=cfg["reports"])
wall = time.perf_counter() - started
peak = high_water()
print(json.dumps({"rows": len(frame), "frame": int(frame.memory_usage(deep=True).sum()), "wall": wall,
                  "before": before, "peak": peak, "module": schedy.__file__}))
"""


def _experiment(conn: Connection, owner: int, name: str) -> tuple[int, float]:
    space = json.dumps({"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}})
    row = store_experiments.create(conn, owner, name, "RUNNING", "RandomSearch", space, json.dumps({}))
    assert row is not None
    return row.id, float(row.created_at)


def load(service: ServiceProcess, email: str, jobs: int, steps: int, big: int) -> None:
    """The experiments ``curves`` (``jobs`` × ``steps`` reports) and ``big`` (``big`` jobs)."""
    rng = random.Random(0)
    store = Store(service.database_url, pool_size=1)
    with store.write() as conn:
        user = users.by_email(conn, email)
        assert user is not None
        curves, t0 = _experiment(conn, user.id, "curves")
        stats.insert_many(
            conn,
            curves,
            [
                {"job_id": f"c{i:07d}", "status": "DONE",
                 "hyperparameters": json.dumps({"lr": 10 ** rng.uniform(-4, -1)}),
                 "results": json.dumps({"loss": rng.random()}), "created_at": t0 + i, "started_at": t0 + i,
                 "finished_at": t0 + i + 1}
                for i in range(jobs)
            ],
        )  # fmt: skip
        large, t1 = _experiment(conn, user.id, "big")
        stats.insert_many(
            conn,
            large,
            [
                {"job_id": f"b{i:07d}", "status": "DONE",
                 "hyperparameters": json.dumps({"lr": 10 ** rng.uniform(-4, -1), "opt": rng.choice(["adam", "sgd"])}),
                 "results": json.dumps({"loss": rng.random()}), "created_at": t1 + i, "started_at": t1 + i,
                 "finished_at": t1 + i + 1, "worker": f"w{i % 8}"}
                for i in range(big)
            ],
        )  # fmt: skip
    store.dispose()
    db = sqlite3.connect(service.database_url.split("///", 1)[1])
    pks = dict(db.execute("SELECT job_id, pk FROM jobs WHERE experiment_id = ?", (curves,)).fetchall())

    def reports() -> Iterator[tuple[object, ...]]:
        for i in range(jobs):
            base = 1 + rng.random()
            for step in range(steps):
                metrics = {"loss": base / (1 + step * 0.01)}
                if step % 2 == 0:
                    metrics["acc"] = 1 - math.exp(-step / steps)
                yield (curves, pks[f"c{i:07d}"], step, json.dumps(metrics), t0 + i + step * 1e-3, 1)

    db.executemany(
        "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at, attempt) VALUES (?, ?, ?, ?, ?, ?)",
        reports(),
    )
    db.commit()
    db.close()


def measure(src: Path, client: dict[str, str], experiment: str, reports: bool) -> dict[str, float]:
    """One ``to_dataframe`` call in a fresh process importing schedy from ``src``."""
    config = json.dumps({"client": client, "experiment": experiment, "reports": reports})
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, config], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    assert str(result["module"]).startswith(str(src)), (result["module"], src)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="an older src/ to measure in the same run")
    args = parser.parse_args()
    turns = [("after", ROOT / "src")]
    if args.baseline is not None:
        turns.insert(0, ("before", args.baseline.resolve()))
    service = ServiceProcess.start(Path(tempfile.mkdtemp(prefix="schedy-bench-dataframe-")))
    try:
        user = service.new_user("bench@example.com")
        started = time.perf_counter()
        load(service, user.email, args.jobs, args.steps, args.big)
        print(f"loaded {args.jobs} jobs × {args.steps} reports and {args.big} jobs in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        mib = 2**20
        for what, experiment, reports in (("reports", "curves", True), ("jobs", "big", False)):
            for turn in range(args.repeat):
                for label, src in turns:
                    r = measure(src, user.client_config, experiment, reports)
                    growth = (r["peak"] - r["before"]) / mib
                    print(f"{what:7} {label:6} #{turn + 1}: {int(r['rows']):,} rows, frame {r['frame'] / mib:.0f} MiB; "
                          f"peak RSS {r['peak'] / mib:.0f} MiB (+{growth:.0f} MiB over {r['before'] / mib:.0f} MiB, "
                          f"{growth / (r['frame'] / mib):.1f}× the frame), {r['wall']:.1f} s")  # fmt: skip
        print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
        return 0
    finally:
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
