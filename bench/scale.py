"""Scale: does a cycle, a fresh worker's first job, or reading every job cost more in a big experiment?

For each size N (default 1k, 50k, 100k and 1M jobs) a database of its own
and a ``schedy server`` on it hold two experiments, bulk-loaded through the
store:

* ``queue``: a manual search with N QUEUED jobs (claims walk the queue);
* ``history``: a random search with N DONE jobs (a long search's past).

Measured, sizes interleaved in every repetition:

* cost of a claim + complete cycle (1 worker looping ``with exp.next_job()``),
  on each experiment, and its ratio to the 1k experiment's;
* a fresh worker process: ``SchedyDB()`` + ``get_experiment`` + the first
  ``next_job`` (and that call alone);
* ``all_jobs()`` over the history experiment: jobs/s, and the worker's peak
  RSS (sampled every 5,000 jobs);
* the server's RSS at the end, and the looping worker's.

Workers are fresh interpreters (spawn) importing only the client, so their
RSS is what a user's worker would hold.

Usage::

    python bench/scale.py                                  # SQLite, 1k 50k 100k 1M
    python bench/scale.py --backends sqlite postgres --sizes 1000 100000 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any

from _common import (
    Spread,
    backend,
    bulk_load,
    command_line,
    create_experiment,
    experiment_id,
    log,
    manual_search,
    process_tree_rss,
    random_search,
    rss_now,
    run_workers,
    save_json,
    server,
    table,
    versions,
)

MIB = 2**20


# -- workers (fresh interpreters) --------------------------------------------------


def cycle_worker(config: dict[str, str], name: str, duration: float, *, ready: Any, go: Any) -> dict[str, Any]:
    from throughput import schedy_worker

    return schedy_worker(config, name, duration, ready=ready, go=go)


def fresh_worker(config: dict[str, str], name: str, *, ready: Any, go: Any) -> dict[str, Any]:
    """A worker's start: connect, read the experiment, claim and complete its first job."""
    import schedy

    ready.set()
    go.wait()
    t0 = time.perf_counter()
    db = schedy.SchedyDB(config_override=config)
    exp = db.get_experiment(name)
    t1 = time.perf_counter()
    job = exp.next_job()
    t2 = time.perf_counter()
    with job:
        job.results["loss"] = 1.0
    db.close()
    return {
        "cycles": 1,
        "seconds": 1.0,
        "latencies": [t2 - t1, t2 - t0],
        "errors": 0,
        "exhausted": False,
        "rss": rss_now(),
    }


def all_jobs_worker(config: dict[str, str], name: str, *, ready: Any, go: Any) -> dict[str, Any]:
    """Iterate over every job of the experiment without keeping them."""
    import schedy

    db = schedy.SchedyDB(config_override=config)
    exp = db.get_experiment(name)
    ready.set()
    go.wait()
    t0 = time.perf_counter()
    n = 0
    peak = rss_now()
    for job in exp.all_jobs():
        n += job.results.get("loss", 0.0) >= 0
        if n % 5000 == 0:
            peak = max(peak, rss_now())
    seconds = time.perf_counter() - t0
    # Sampled: ru_maxrss would count the forking parent's pages (it survives exec on Linux).
    peak = max(peak, rss_now())
    return {"cycles": n, "seconds": seconds, "latencies": [], "errors": 0, "exhausted": False, "rss": peak}


# -- the run ---------------------------------------------------------------------------


def measure(kind: str, args: argparse.Namespace, info: dict[str, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with backend(kind) as be, contextlib.ExitStack() as stack:
        info.update(versions(be.pg))
        services = {}
        for n in args.sizes:
            url = be.new_url(f"scale{n}")
            service = stack.enter_context(server(be.directory, url, *args.server_args))
            user = service.new_user()
            config = user.client_config
            create_experiment(config, manual_search("queue"))
            create_experiment(config, random_search("history"))
            t_queue = bulk_load(url, experiment_id(url, user.email, "queue"), n + 10_000)
            t_hist = bulk_load(url, experiment_id(url, user.email, "history"), n, status="DONE")
            log(f"{kind} N={n:,}: loaded {n + 10_000:,} queued in {t_queue:.1f} s, {n:,} done in {t_hist:.1f} s")
            services[n] = (service, config)
            records.append({"backend": kind, "n": n, "what": "load_s_per_1M", "value": t_hist / n * 1e6})
        for _service, config in services.values():  # warm-up, not recorded: first queries, page cache
            for exp in ("queue", "history"):
                run_workers(cycle_worker, (config, exp, 0.5), 1)
        for rep in range(args.reps):
            for n, (service, config) in services.items():
                for exp in ("queue", "history"):
                    run = run_workers(
                        cycle_worker, (config, exp, args.duration), 1, server_pid=service.process.pid, context="spawn"
                    )
                    records.append(
                        {"backend": kind, "n": n, "rep": rep, "what": f"cycle_ms_{exp}", "value": 1000 / run.rate}
                    )
                    records.append(
                        {"backend": kind, "n": n, "rep": rep, "what": "worker_rss", "value": max(run.worker_rss) / MIB}
                    )
                    log(f"{kind} N={n:,} rep={rep} {exp:8} {run.rate:7.0f} cycles/s")
                for exp in ("queue", "history"):
                    first = run_workers(fresh_worker, (config, exp), 1, context="spawn")
                    next_job_ms, start_ms = (x * 1000 for x in first.latencies)
                    records.append(
                        {"backend": kind, "n": n, "rep": rep, "what": f"first_next_job_ms_{exp}", "value": next_job_ms}
                    )
                    records.append(
                        {"backend": kind, "n": n, "rep": rep, "what": f"fresh_worker_ms_{exp}", "value": start_ms}
                    )
                    log(
                        f"{kind} N={n:,} rep={rep} {exp:8} fresh worker: first next_job {next_job_ms:.1f} ms, "
                        f"SchedyDB() to first job {start_ms:.1f} ms"
                    )
                if n <= args.all_jobs_max:
                    listing = run_workers(all_jobs_worker, (config, "history"), 1, context="spawn", timeout=900)
                    records.append(
                        {
                            "backend": kind,
                            "n": n,
                            "rep": rep,
                            "what": "all_jobs_per_s",
                            "value": listing.cycles / listing.seconds,
                        }
                    )
                    records.append(
                        {
                            "backend": kind,
                            "n": n,
                            "rep": rep,
                            "what": "all_jobs_worker_peak_rss",
                            "value": max(listing.worker_rss) / MIB,
                        }
                    )
                    log(
                        f"{kind} N={n:,} rep={rep} all_jobs {listing.cycles / listing.seconds:,.0f} jobs/s, "
                        f"worker peak RSS {max(listing.worker_rss) / MIB:.0f} MiB"
                    )
                records.append(
                    {
                        "backend": kind,
                        "n": n,
                        "rep": rep,
                        "what": "server_rss",
                        "value": process_tree_rss(service.process.pid) / MIB,
                    }
                )
    return records


def _values(records: list[dict[str, Any]], kind: str, n: int, what: str) -> list[float]:
    return [r["value"] for r in records if r["backend"] == kind and r["n"] == n and r["what"] == what]


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = []
    for kind in args.backends:
        base = args.sizes[0]
        rows = []
        for n in args.sizes:
            row = [f"{n:,}"]
            for exp in ("queue", "history"):
                cost = _values(records, kind, n, f"cycle_ms_{exp}")
                ref = _values(records, kind, base, f"cycle_ms_{exp}")
                ratio = Spread([c / r for c, r in zip(cost, ref, strict=True)])
                row += [Spread(cost).fmt(2), ratio.fmt(2, "×")]
            for exp in ("queue", "history"):
                row.append(Spread(_values(records, kind, n, f"first_next_job_ms_{exp}")).fmt(1))
            row.append(Spread(_values(records, kind, n, "fresh_worker_ms_history")).fmt(1))
            listing = _values(records, kind, n, "all_jobs_per_s")
            row.append(Spread(listing).fmt() if listing else "–")
            peak = _values(records, kind, n, "all_jobs_worker_peak_rss")
            row.append(
                Spread(_values(records, kind, n, "worker_rss")).fmt() + " / " + (Spread(peak).fmt() if peak else "–")
            )
            row.append(Spread(_values(records, kind, n, "server_rss")).fmt())
            rows.append(row)
        out.append(f"### {kind}: medians of {args.reps} (min–max)\n")
        out.append(
            table(
                [
                    "jobs N",
                    "queue: ms/cycle",
                    f"× {base:,}",
                    "history (random): ms/cycle",
                    f"× {base:,}",
                    "first next_job, queue (ms)",
                    "first next_job, random (ms)",
                    "fresh worker to first job (ms)",
                    "all_jobs() jobs/s",
                    "worker RSS looping / all_jobs peak (MiB)",
                    "server RSS (MiB)",
                ],
                rows,
            )
        )
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 50_000, 100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of each cycle measurement")
    parser.add_argument("--all-jobs-max", type=int, default=1_000_000, help="skip all_jobs() above this size")
    parser.add_argument("--server-args", nargs="*", default=[])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    for kind in args.backends:
        records += measure(kind, args, info)
    save_json(args.json, {"versions": info, "command": command_line(), "records": records})
    print(f"Command: `{command_line()}`\n")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n")
    print(report(records, args))


if __name__ == "__main__":
    main()
