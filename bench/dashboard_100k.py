"""How fast an experiment of 100k jobs opens in the dashboard (real service, real Chromium).

Bulk-loads N jobs (default 100,000) into one experiment through the store in
one transaction, starts ``schedy server``, logs in with headless Chromium and
opens the experiment page in a fresh tab, R times in each of three cases:
``first`` (the service was just restarted: it reads every job from the
database), ``changed`` (the experiment changed since the service last sent
it: the kept answer plus a patch of the changes) and ``unchanged``. Each time
is from navigation to the page being ready (table rendered, every plot
drawn, ``body[data-ready=true]``). Also times the columnar endpoint alone
over HTTP. Prints medians with min–max; exits 1 if any case's median is 2 s
or more.

    python bench/dashboard_100k.py [--jobs 100000] [--repeat 5] [--database URL | --postgres]

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and ``playwright`` (dev extra).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.testing import PostgresCluster, ServiceProcess

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def load(database_url: str, email: str, name: str, n: int) -> float:
    rng = random.Random(0)
    store = Store(database_url, pool_size=1)
    started = time.perf_counter()
    with store.write() as conn:
        user = users.by_email(conn, email)
        assert user is not None
        params = {"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}, "layers": {"choice": {"values": [1, 2, 3, 4]}},
                  "dropout": {"uniform": {"low": 0, "high": 0.5}}}
        row = store_experiments.create(conn, user.id, name, "RUNNING", "RandomSearch", json.dumps(params), "{}")
        assert row is not None
        t0 = float(row.created_at)
        rows = []
        for i in range(n):
            lr, layers, dropout = 10 ** rng.uniform(-4, -1), rng.choice([1, 2, 3, 4]), rng.uniform(0, 0.5)
            loss = (math.log10(lr) + 2.5) ** 2 + 0.1 * layers + dropout + rng.gauss(0, 0.05)
            rows.append({
                "job_id": f"b{i:07d}", "status": "DONE",
                "hyperparameters": json.dumps({"lr": lr, "layers": layers, "dropout": dropout}),
                "results": json.dumps({"loss": loss, "accuracy": 1 / (1 + loss)}),
                "created_at": t0 + i * 0.01, "started_at": t0 + i * 0.01,
                "finished_at": t0 + i * 0.01 + 0.5, "updated_at": t0 + i * 0.01 + 0.5, "worker": f"w{i % 16}",
            })
        stats.insert_many(conn, row.id, rows)
    store.dispose()
    return time.perf_counter() - started


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL cluster and use it")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="schedy-bench-dashboard-"))
    cluster = PostgresCluster.start() if args.postgres else None
    try:
        return run(args, home, cluster.new_database() if cluster else args.database)
    finally:
        if cluster is not None:
            cluster.stop()


KINDS = {
    "first": "first open after the service started (every job read from the database)",
    "changed": "a job changed since the service last sent the experiment (kept answer + patch)",
    "unchanged": "nothing changed (kept answer, after one aggregate)",
}


def run(args: argparse.Namespace, home: Path, database: str | None) -> int:
    service = ServiceProcess.start(home, database)
    try:
        user = service.new_user("bench@example.com")
        loaded = load(service.database_url, user.email, "big", args.jobs)
        print(f"loaded {args.jobs} jobs in {loaded:.1f} s ({service.database_url.split(':')[0]})")

        endpoint: dict[str, list[float]] = {"first": [], "unchanged": []}
        size, not_modified = 0, 0.0
        importance: dict[str, list[float]] = {"first": [], "kept": []}
        for _ in range(args.repeat):
            service = restart(service)
            with httpx.Client(base_url=service.url, timeout=120) as http:
                http.post("dashboard/api/session/", json={"email": user.email, "password": user.password})
                for kind in endpoint:
                    started = time.perf_counter()
                    answer = http.get("dashboard/api/experiments/big/jobs/")
                    endpoint[kind].append(time.perf_counter() - started)
                    size = len(answer.content)
                    assert answer.status_code == 200
                    assert answer.json()["total"] == args.jobs
                started = time.perf_counter()
                tag = answer.headers["etag"]
                again = http.get("dashboard/api/experiments/big/jobs/", headers={"If-None-Match": tag})
                assert again.status_code == 304
                not_modified = time.perf_counter() - started
                for kind in importance:  # hyperparameter importance (PED-ANOVA), computed then kept
                    started = time.perf_counter()
                    answer = http.get("dashboard/api/experiments/big/importance/", params={"objective": "loss"})
                    importance[kind].append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text
                    ranked = answer.json()
        print(f"columns endpoint, {size / 1e6:.1f} MB: first read {summary(endpoint['first'])}; "
              f"unchanged {summary(endpoint['unchanged'])}; 304 poll: {not_modified * 1000:.0f} ms")
        print(f"importance ({ranked['method']}, {ranked['jobs']} of {ranked['done']} DONE jobs used, "
              f"{[i['name'] for i in ranked['importances']]}): first {summary(importance['first'])}; "
              f"kept {summary(importance['kept'])}")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(service.url)
            page.fill("input[name=email]", user.email)
            page.fill("input[name=password]", user.password)
            page.click("button[type=submit]")
            page.wait_for_selector("table.experiments tr[data-experiment]")
            page.close()
            results: dict[str, list[float]] = {kind: [] for kind in KINDS}
            in_page: dict[str, list[float]] = {kind: [] for kind in KINDS}
            drawn, rows = [], None
            for _ in range(args.repeat):
                for kind in KINDS:
                    if kind == "first":
                        service = restart(service)
                    elif kind == "changed":
                        change(context, service.url)
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(service.url + "?poll=60000#/e/big")
                    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]", timeout=60_000)
                    results[kind].append(time.perf_counter() - started)
                    in_page[kind].append(float(page.get_attribute("body", "data-ready-at") or "nan") / 1000)
                    drawn = page.eval_on_selector_all(
                        "figure.plot", "fs => fs.map(f => f.dataset.plot + ':' + f.dataset.count)"
                    )
                    rows = page.get_attribute("table.jobs", "data-rows")
                    page.close()
            browser.close()
        print(f"experiment page of {rows} jobs ready (table + plots {drawn}), from navigation in a new tab:")
        for kind, label in KINDS.items():
            print(f"  {kind}, {label}: {summary(results[kind])}")
            print(f"    in the page (navigation start to rendered): {summary(in_page[kind])}")
        print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
              f"load average {os.getloadavg()[0]:.1f} at the end, chromium {args.chromium}")
        return 0 if max(statistics.median(v) for v in results.values()) < 2.0 else 1
    finally:
        service.stop()


def restart(service: ServiceProcess) -> ServiceProcess:
    """The same service started again (same database, port and secret): it has kept nothing."""
    service.stop()
    return ServiceProcess.start(service.home, service.database_url, port=service.port)


def change(context: Any, url: str) -> None:
    """Change the experiment through the dashboard, as a user would (marking it RUNNING bumps it)."""
    page = context.new_page()
    page.goto(url + "?poll=60000#/")
    page.evaluate("""() => fetch('dashboard/api/experiments/big/status/', {method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-Schedy-CSRF':
        document.cookie.split('; ').find(c => c.startsWith('schedy_csrf=')).slice(12)},
        body: JSON.stringify({status: 'RUNNING'})})""")
    page.close()


if __name__ == "__main__":
    sys.exit(main())
