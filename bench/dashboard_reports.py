"""How fast the dashboard draws the learning curves of jobs that report every batch (real service, real Chromium).

Loads J DONE jobs (default 200) of S reports each (default 10,000) into one
experiment with ASHA (jobs through the store, reports by ``executemany`` on
the SQLite file), starts ``schedy server``, then:

* reads the experiment's reports through the dashboard's endpoint as the
  page does (``perJob=500`` unless ``--whole``: every report, page by page,
  as the page read them before the service thinned them) and times it;
* opens the experiment page in headless Chromium R times, each in a fresh
  page after a restart of the service, and times navigation → page ready
  and navigation → every job's curve drawn.

    python bench/dashboard_reports.py [--jobs 200] [--steps 10000] [--repeat 3] [--whole] [--poll MS]

Run it on the code before a change with ``PYTHONPATH=OLD/src`` (the service
inherits it) to compare in one run. Needs Debian's ``chromium`` and
``playwright`` (dev extra).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.testing import ServiceProcess

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ASHA = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3}}


def load(service: ServiceProcess, email: str, jobs: int, steps: int) -> None:
    """The experiment ``curves``: ``jobs`` DONE jobs of ``steps`` reports each."""
    rng = random.Random(0)
    store = Store(service.database_url, pool_size=1)
    with store.write() as conn:
        user = users.by_email(conn, email)
        assert user is not None
        space = json.dumps({"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}})
        row = store_experiments.create(
            conn, user.id, "curves", "RUNNING", "RandomSearch", space, json.dumps({"earlyStopping": ASHA})
        )
        assert row is not None
        t0, experiment_id = float(row.created_at), row.id
        rows = []
        for i in range(jobs):
            lr = 10 ** rng.uniform(-4, -1)
            rows.append({
                "job_id": f"b{i:07d}", "status": "DONE", "hyperparameters": json.dumps({"lr": lr}),
                "results": json.dumps({"loss": abs(math.log10(lr) + 2.5)}),
                "created_at": t0 + i, "started_at": t0 + i, "finished_at": t0 + i + 1,
            })  # fmt: skip
        stats.insert_many(conn, experiment_id, rows)
    store.dispose()
    db = sqlite3.connect(service.database_url.split("///", 1)[1])
    pks = dict(db.execute("SELECT job_id, pk FROM jobs WHERE experiment_id = ?", (experiment_id,)).fetchall())

    def reports() -> Iterator[tuple[object, ...]]:
        for i in range(jobs):
            base = 1 + rng.random()
            for step in range(steps):
                loss = base / (1 + step * 0.01)
                yield (experiment_id, pks[f"b{i:07d}"], step, json.dumps({"loss": loss}), t0 + i, 1)

    db.executemany(
        "INSERT INTO reports (experiment_id, job_pk, step, metrics, created_at, attempt) VALUES (?, ?, ?, ?, ?, ?)",
        reports(),
    )
    db.commit()
    db.close()


def restart(service: ServiceProcess) -> ServiceProcess:
    """The same service started again: it has kept nothing."""
    service.stop()
    return ServiceProcess.start(service.home, service.database_url, port=service.port)


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="read every report (as the page did before perJob)")
    parser.add_argument("--poll", type=int, default=2000, help="the page's poll interval, ms (its default: 2000)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    service = ServiceProcess.start(Path(tempfile.mkdtemp(prefix="schedy-bench-reports-")))
    try:
        user = service.new_user("bench@example.com")
        started = time.perf_counter()
        load(service, user.email, args.jobs, args.steps)
        print(f"loaded {args.jobs} jobs × {args.steps} reports in {time.perf_counter() - started:.1f} s")
        endpoint, sizes = [], []
        for _ in range(args.repeat):
            service = restart(service)
            with httpx.Client(base_url=service.url, timeout=600) as http:
                http.post("dashboard/api/session/", json={"email": user.email, "password": user.password})
                params: dict[str, int] = {"after": 0} if args.whole else {"after": 0, "perJob": 500}
                started, size = time.perf_counter(), 0
                while True:
                    answer = http.get("dashboard/api/experiments/curves/reports/", params=params)
                    assert answer.status_code == 200, answer.text
                    size += len(answer.content)
                    body = answer.json()
                    params["after"] = body["after"]
                    if not body["more"]:
                        break
                endpoint.append(time.perf_counter() - started)
                sizes.append(size)
        print(f"reports endpoint ({'whole' if args.whole else 'perJob=500'}), {sizes[-1] / 1e6:.1f} MB: "
              f"{summary(endpoint)}")  # fmt: skip
        ready, drawn = [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for _ in range(args.repeat):
                service = restart(service)
                page = context.new_page()
                page.goto(service.url)
                if page.locator("input[name=email]").count():
                    page.fill("input[name=email]", user.email)
                    page.fill("input[name=password]", user.password)
                    page.click("button[type=submit]")
                    page.wait_for_selector("table.experiments tr[data-experiment]")
                page.close()
                page = context.new_page()
                started = time.perf_counter()
                page.goto(service.url + f"?poll={args.poll}#/e/curves")
                page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]", timeout=600_000)
                ready.append(time.perf_counter() - started)
                page.wait_for_function(
                    "(n) => document.querySelector('figure.plot[data-plot=curves]')?.dataset.count === String(n)",
                    arg=args.jobs,
                    timeout=600_000,
                )
                drawn.append(time.perf_counter() - started)
                page.close()
            browser.close()
        print(f"page ready: {summary(ready)}; every curve drawn: {summary(drawn)}")
        print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
        return 0
    finally:
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
