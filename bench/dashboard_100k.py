"""How fast an experiment of 100k jobs opens in the dashboard (real service, real Chromium).

Bulk-loads N jobs (default 100,000) into one experiment through the store in
one transaction, starts ``schedy server``, logs in with headless Chromium and
opens the experiment page R times cold (the experiment changed just before,
so the service reads every job) and R times warm (unchanged: the service
answers from its cache after one aggregate), each time in a fresh tab: the
time from navigation to the page being ready (table rendered, every plot
drawn, ``body[data-ready=true]``). Also times the columnar endpoint alone
over HTTP. Prints medians with min–max; exits 1 if the cold median is 2 s
or more.

    python bench/dashboard_100k.py [--jobs 100000] [--repeat 5] [--database URL]

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

import httpx
from playwright.sync_api import sync_playwright

from schedy.server.store import Store, stats, users
from schedy.server.store import experiments as store_experiments
from schedy.testing import ServiceProcess

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
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="schedy-bench-dashboard-"))
    service = ServiceProcess.start(home, args.database)
    try:
        user = service.new_user("bench@example.com")
        loaded = load(service.database_url, user.email, "big", args.jobs)
        print(f"loaded {args.jobs} jobs in {loaded:.1f} s ({service.database_url.split(':')[0]})")

        with httpx.Client(base_url=service.url, timeout=120) as http:
            http.post("dashboard/api/session/", json={"email": user.email, "password": user.password})
            endpoint, size = [], 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                answer = http.get("dashboard/api/experiments/big/jobs/")
                endpoint.append(time.perf_counter() - started)
                size = len(answer.content)
                assert answer.status_code == 200
                assert answer.json()["total"] == args.jobs
            tag = answer.headers["etag"]
            started = time.perf_counter()
            assert http.get("dashboard/api/experiments/big/jobs/", headers={"If-None-Match": tag}).status_code == 304
            not_modified = time.perf_counter() - started
        print(f"columns endpoint, {size / 1e6:.1f} MB: {summary(endpoint)}; 304 poll: {not_modified * 1000:.0f} ms")

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
            results: dict[str, list[float]] = {"cold": [], "warm": []}
            in_page: dict[str, list[float]] = {"cold": [], "warm": []}
            for i in range(2 * args.repeat):
                kind = "cold" if i % 2 == 0 else "warm"
                if kind == "cold":
                    # A change to the experiment: the service must read all 100k jobs again.
                    page = context.new_page()
                    page.goto(service.url + "?poll=60000#/")
                    page.evaluate("""() => fetch('dashboard/api/experiments/big/status/', {method: 'PUT',
                        headers: {'Content-Type': 'application/json', 'X-Schedy-CSRF':
                        document.cookie.split('; ').find(c => c.startsWith('schedy_csrf=')).slice(12)},
                        body: JSON.stringify({status: 'RUNNING'})})""")
                    page.close()
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
        print(f"experiment page of {rows} jobs ready (table + plots {drawn}):")
        print(f"  cold (experiment changed since last read): {summary(results['cold'])}")
        print(f"    in the page (navigation start to rendered): {summary(in_page['cold'])}")
        print(f"  warm (unchanged, served from the process's cache): {summary(results['warm'])}")
        print(f"    in the page (navigation start to rendered): {summary(in_page['warm'])}")
        opened = results["cold"]
        print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
              f"load average {os.getloadavg()[0]:.1f} at the end, chromium {args.chromium}")
        return 0 if statistics.median(opened) < 2.0 else 1
    finally:
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
