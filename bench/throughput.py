"""Throughput: W worker processes claiming and completing jobs, against Optuna and a bare HTTP floor.

Each Schedy worker loops, as a user's would::

    with exp.next_job() as job:
        job.results["loss"] = f(job.hyperparameters)

through the client library and a real ``schedy server`` (started the way a
user starts it), on a random search and on a pre-filled manual queue. In the
same run, side by side:

* Optuna ask/tell (RandomSampler, two floats) on the same database kind;
* a floor: the same server stack answering a trivial endpoint (``GET
  /ping/``), two keep-alive round trips per cycle, as many as a Schedy cycle;
* on PostgreSQL, a **database floor**: the statements of a Schedy cycle (the
  claim, a random search's insert, the job update) sent by a bare asyncio
  driver (asyncpg) from one process, W connections, no HTTP: what the
  database itself costs (``db-random``, ``db-queue``);
* with ``--baseline SRC``, the same Schedy cycles against a second server
  run from another source tree (e.g. a worktree of the previous commit), on
  a database of its own: before and after in one run (``before-random``,
  ``before-queue``).

Usage::

    python bench/throughput.py                       # SQLite and PostgreSQL, W = 1, 4, 16, 3 repetitions
    python bench/throughput.py --backends sqlite --workers 4 --reps 3 --duration 3
    git worktree add /tmp/bench-before HEAD~1
    python bench/throughput.py --backends postgres --workers 4 16 64 --baseline /tmp/bench-before/src

Prints markdown tables (medians over repetitions, min–max in brackets).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import (
    Backend,
    Run,
    Spread,
    backend,
    bulk_load,
    command_line,
    create_experiment,
    experiment_id,
    log,
    manual_search,
    objective,
    random_search,
    rss_now,
    run_workers,
    save_json,
    server,
    table,
    versions,
)

SYSTEMS = ("schedy-random", "schedy-queue", "before-random", "before-queue", "optuna", "floor", "db-random", "db-queue")
#: Systems that run only with --baseline; the database floor runs on PostgreSQL only.
BASELINE_SYSTEMS = ("before-random", "before-queue")
DB_FLOOR_SYSTEMS = ("db-random", "db-queue")


# -- workers (run in child processes) -------------------------------------------------


def _loop(duration: float, ready: Any, go: Any, cycle: Any) -> dict[str, Any]:
    """Run ``cycle()`` (which returns its claim latency, or None when there is no work) for ``duration`` s."""
    ready.set()
    go.wait()
    latencies: list[float] = []
    errors = 0
    exhausted = False
    start = time.perf_counter()
    cpu = time.process_time()
    end = start + duration
    cycles = 0
    while time.perf_counter() < end:
        try:
            latency = cycle()
        except Exception:
            errors += 1
            continue
        if latency is None:
            exhausted = True
            break
        latencies.append(latency)
        cycles += 1
    return {
        "cycles": cycles,
        "seconds": duration,
        "latencies": latencies,
        "errors": errors,
        "exhausted": exhausted,
        "rss": rss_now(),
        "cpu": time.process_time() - cpu,
    }


def schedy_worker(config: dict[str, str], name: str, duration: float, *, ready: Any, go: Any) -> dict[str, Any]:
    import schedy
    from schedy.errors import NoJobError

    db = schedy.SchedyDB(config_override=config)
    exp = db.get_experiment(name)
    clock = time.perf_counter

    def cycle() -> float | None:
        t0 = clock()
        try:
            job = exp.next_job()
        except NoJobError:
            return None
        latency = clock() - t0
        with job:
            job.results["loss"] = objective(job.hyperparameters)
        return latency

    cycle()  # warm-up: log in, open the connection
    return _loop(duration, ready, go, cycle)


def optuna_worker(storage_url: str, name: str, duration: float, *, ready: Any, go: Any) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=storage_url, sampler=optuna.samplers.RandomSampler())
    clock = time.perf_counter

    def cycle() -> float:
        t0 = clock()
        trial = study.ask()
        hps = {"x": trial.suggest_float("x", -10, 10), "y": trial.suggest_float("y", -10, 10)}
        latency = clock() - t0  # ask + suggestions: what a worker needs before it can start
        study.tell(trial, objective(hps))
        return latency

    cycle()
    return _loop(duration, ready, go, cycle)


def floor_worker(port: int, duration: float, *, ready: Any, go: Any) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    clock = time.perf_counter
    headers = {"Accept": "application/json"}

    def trip() -> None:
        conn.request("GET", "/ping/", headers=headers)
        conn.getresponse().read()

    def cycle() -> float:
        t0 = clock()
        trip()
        latency = clock() - t0
        trip()
        return latency

    cycle()
    return _loop(duration, ready, go, cycle)


def db_floor_worker(
    url: str, owner_id: int, name: str, experiment: int, tasks: int, duration: float, *, ready: Any, go: Any
) -> dict[str, Any]:
    """The database floor: ``tasks`` asyncio tasks on as many asyncpg connections, in this one process.

    Each task loops over the statements of a Schedy cycle, exactly as the service sends them
    (compiled from the same SQLAlchemy statements): the claim of the queue head by name, on a
    random search the insert of a new RUNNING job, then the worker's update to DONE.
    """
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from schedy.server.store import jobs as store_jobs
    from schedy.server.store.aio import asyncpg_dsn
    from schedy.server.store.compiled import compiled_for
    from schedy.server.store.ids import new_job_id

    d = dialect()
    claim = compiled_for(d, store_jobs._claim_by_name_statement)
    insert = compiled_for(d, store_jobs._insert_statement, "postgresql", "RUNNING", False)
    done = compiled_for(d, store_jobs._replace_named_statement, "DONE")
    clock = time.perf_counter

    async def one(conn: Any, end: float | None, latencies: list[float] | None) -> int:
        rng = random.Random()
        cycles = 0
        while end is None or clock() < end:
            t0 = clock()
            params = store_jobs.claim_by_name_params(owner_id, name, "db-floor", 30.0)
            row = await conn.fetchrow(claim.sql, *claim.parameters(params))
            claimed = store_jobs.claim_by_name_row(tuple(row))
            assert claimed is not None
            job = claimed[1]
            if job is None:
                hps = f'{{"x":{rng.uniform(-10, 10)!r},"y":{rng.uniform(-10, 10)!r}}}'
                params = store_jobs.insert_params(
                    experiment, new_job_id(), "RUNNING", hps, "{}", worker="db-floor", heartbeat=30.0
                )
                job = store_jobs.record(tuple(await conn.fetchrow(insert.sql, *insert.parameters(params))))
            assert job is not None
            if latencies is not None:
                latencies.append(clock() - t0)
            params = store_jobs.replace_named_params(
                owner_id, name, job.job_id, "DONE", job.hyperparameters, '{"loss":1.0}', (job.pk, job.version)
            )
            assert await conn.fetchrow(done.sql, *done.parameters(params)) is not None
            cycles += 1
            if end is None:
                break
        return cycles

    async def main() -> dict[str, Any]:
        conns = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(tasks)]
        for conn in conns:  # warm-up: prepare the statements
            await one(conn, None, None)
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        latencies: list[float] = []
        start, cpu = clock(), time.process_time()
        counts = await asyncio.gather(*(one(conn, start + duration, latencies) for conn in conns))
        used = time.process_time() - cpu
        for conn in conns:
            await conn.close()
        return {
            "cycles": sum(counts),
            "seconds": duration,
            "latencies": latencies,
            "errors": 0,
            "exhausted": False,
            "rss": rss_now(),
            "cpu": used,
        }

    import uvloop

    return uvloop.run(main())


# -- the run --------------------------------------------------------------------------


@contextlib.contextmanager
def _python_path(src: str | None) -> Iterator[None]:
    """``PYTHONPATH`` set to ``src`` (a server started meanwhile runs that source tree)."""
    if src is None:
        yield
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _owner_id(url: str, email: str) -> int:
    from sqlalchemy import select

    from schedy.server.store import Store
    from schedy.server.store.tables import users

    store = Store(url, pool_size=1)
    try:
        with store.read() as conn:
            return int(conn.execute(select(users.c.id).where(users.c.email == email)).scalar_one())
    finally:
        store.dispose()


def _optuna_url(be: Backend) -> str:
    url = be.new_url("optuna")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def measure(be: Backend, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (repetition, W, system) of one database kind; systems interleaved."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = be.new_url("schedy")
    before_url = be.new_url("before") if args.baseline else None
    optuna_url = _optuna_url(be)
    records: list[dict[str, Any]] = []
    systems = [
        s
        for s in SYSTEMS
        if s in args.systems
        and (s not in BASELINE_SYSTEMS or args.baseline)
        and (s not in DB_FLOOR_SYSTEMS or be.kind == "postgres")
    ]
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(server(be.directory, url, *args.server_args))
        user = service.new_user()
        config = user.client_config
        pid = service.process.pid
        owner = _owner_id(url, user.email)
        before = None
        if before_url is not None:
            with _python_path(args.baseline):
                before = stack.enter_context(server(be.directory, before_url, *args.server_args))
            before_user = before.new_user()
        for rep, workers in itertools.product(range(args.reps), args.workers):
            # Rotate the order so that no system always runs first (or last) in a repetition.
            order = systems[rep % len(systems) :] + systems[: rep % len(systems)]
            for system in order:
                name = f"{system}-w{workers}-r{rep}"
                if system in ("schedy-random", "before-random"):
                    on, who = (service, user) if system == "schedy-random" else (before, before_user)
                    assert on is not None
                    create_experiment(who.client_config, random_search(name, args.max_jobs, args.seed))
                    run = run_workers(
                        schedy_worker, (who.client_config, name, args.duration), workers, server_pid=on.process.pid
                    )
                elif system in ("schedy-queue", "before-queue"):
                    on, who = (service, user) if system == "schedy-queue" else (before, before_user)
                    assert on is not None
                    create_experiment(who.client_config, manual_search(name))
                    db = on.database_url
                    bulk_load(db, experiment_id(db, who.email, name), args.prefill)
                    run = run_workers(
                        schedy_worker, (who.client_config, name, args.duration), workers, server_pid=on.process.pid
                    )
                elif system in DB_FLOOR_SYSTEMS:
                    if system == "db-queue":
                        create_experiment(config, manual_search(name))
                        bulk_load(url, experiment_id(url, user.email, name), args.prefill)
                    else:
                        create_experiment(config, random_search(name))
                    exp = experiment_id(url, user.email, name)
                    run = run_workers(db_floor_worker, (url, owner, name, exp, workers, args.duration), 1)
                elif system == "optuna":
                    optuna.create_study(study_name=name, storage=optuna_url, sampler=optuna.samplers.RandomSampler())
                    try:
                        run = run_workers(optuna_worker, (optuna_url, name, args.duration), workers, server_pid=pid)
                    except RuntimeError as exc:
                        # e.g. Optuna on SQLite at W = 64: "database is locked". Its cell shows "–".
                        log(f"{be.kind:8} W={workers:<2} rep={rep} {system:14} FAILED: {str(exc)[:160]}")
                        continue
                else:
                    run = run_workers(floor_worker, (service.port, args.duration), workers, server_pid=pid)
                record = _record(be.kind, workers, rep, system, run)
                records.append(record)
                log(
                    f"{be.kind:8} W={workers:<2} rep={rep} {system:14} {run.rate:8.1f}/s  "
                    f"p50 {record['p50_ms']:.2f} ms  p99 {record['p99_ms']:.2f} ms  "
                    f"CPU/cycle server {run.server_us:5.0f} µs, worker {run.worker_us:5.0f} µs"
                    + (f"  errors {run.errors}" if run.errors else "")
                    + ("  QUEUE EXHAUSTED: raise --prefill" if run.exhausted else "")
                )
    return records


def _record(kind: str, workers: int, rep: int, system: str, run: Run) -> dict[str, Any]:
    return {
        "backend": kind,
        "workers": workers,
        "rep": rep,
        "system": system,
        "rate": run.rate,
        "p50_ms": run.pct(50) * 1000,
        "p99_ms": run.pct(99) * 1000,
        "errors": run.errors,
        "exhausted": run.exhausted,
        "worker_rss_mib": max(run.worker_rss) / 2**20,
        "server_us": run.server_us,
        "worker_us": run.worker_us,
    }


def _pick(records: list[dict[str, Any]], kind: str, workers: int, system: str, key: str) -> dict[int, float]:
    return {
        r["rep"]: r[key] for r in records if r["backend"] == kind and r["workers"] == workers and r["system"] == system
    }


def _ratio(a: dict[int, float], b: dict[int, float]) -> Spread | None:
    reps = sorted(a.keys() & b.keys())
    return Spread([a[r] / b[r] for r in reps]) if reps else None


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = []
    for kind in args.backends:
        rows, lat_rows, extra_rows = [], [], []
        for w in args.workers:
            rate = {s: _pick(records, kind, w, s, "rate") for s in SYSTEMS}
            cell = {s: (Spread(list(v.values())).fmt() if v else "–") for s, v in rate.items()}

            def ratio(a: str, b: str, _rate: dict[str, dict[int, float]] = rate) -> str:
                spread = _ratio(_rate[a], _rate[b])
                return spread.fmt(1, "×") if spread else "–"

            rows.append(
                [
                    str(w),
                    cell["schedy-random"],
                    cell["schedy-queue"],
                    cell["optuna"],
                    cell["floor"],
                    ratio("schedy-random", "optuna"),
                    ratio("schedy-queue", "optuna"),
                    ratio("floor", "schedy-random"),
                    ratio("floor", "schedy-queue"),
                ]
            )
            if any(rate[s] for s in BASELINE_SYSTEMS + DB_FLOOR_SYSTEMS):
                extra_rows.append(
                    [
                        str(w),
                        cell["before-random"],
                        cell["schedy-random"],
                        ratio("schedy-random", "before-random"),
                        cell["before-queue"],
                        cell["schedy-queue"],
                        ratio("schedy-queue", "before-queue"),
                        cell["db-random"],
                        ratio("db-random", "schedy-random"),
                        cell["db-queue"],
                        ratio("db-queue", "schedy-queue"),
                    ]
                )
            lat = []
            for s in ("schedy-random", "schedy-queue", "optuna", "floor"):
                p50 = _pick(records, kind, w, s, "p50_ms")
                p99 = _pick(records, kind, w, s, "p99_ms")
                lat.append(f"{Spread(list(p50.values())).fmt(2)} / {Spread(list(p99.values())).fmt(1)}" if p50 else "–")
            lat_rows.append([str(w), *lat])
        out.append(f"### {kind}: cycles/s (median of {args.reps}, min–max)\n")
        out.append(
            table(
                [
                    "W",
                    "Schedy random",
                    "Schedy queue",
                    "Optuna",
                    "HTTP floor",
                    "random / Optuna",
                    "queue / Optuna",
                    "random cost / floor cost",
                    "queue cost / floor cost",
                ],
                rows,
            )
        )
        out.append(f"\n### {kind}: claim latency p50 / p99, ms (next_job; Optuna ask + 2 suggests; floor 1st trip)\n")
        out.append(table(["W", "Schedy random", "Schedy queue", "Optuna", "HTTP floor"], lat_rows))
        out.append("")
        if extra_rows:
            out.append(f"### {kind}: before / after (--baseline) and the database floor, cycles/s\n")
            out.append(
                table(
                    [
                        "W",
                        "before random",
                        "after random",
                        "after / before",
                        "before queue",
                        "after queue",
                        "after / before",
                        "DB floor random",
                        "random cost / DB floor cost",
                        "DB floor queue",
                        "queue cost / DB floor cost",
                    ],
                    extra_rows,
                )
            )
            lat = [
                [str(w)]
                + [
                    f"{Spread(list(p50.values())).fmt(2)} / {Spread(list(p99.values())).fmt(1)}" if p50 else "–"
                    for s in BASELINE_SYSTEMS + DB_FLOOR_SYSTEMS
                    for p50, p99 in [(_pick(records, kind, w, s, "p50_ms"), _pick(records, kind, w, s, "p99_ms"))]
                ]
                for w in args.workers
            ]
            out.append("\nClaim latency p50 / p99, ms:\n")
            out.append(table(["W", "before random", "before queue", "DB floor random", "DB floor queue"], lat))
            out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each timed window")
    parser.add_argument("--prefill", type=int, default=30_000, help="queued jobs per queue measurement")
    parser.add_argument(
        "--max-jobs", type=int, default=None, help="give the random searches a budget (maxJobs) this large"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed the random searches (their decisions are numbered and recorded)"
    )
    parser.add_argument("--server-args", nargs="*", default=[], help="extra `schedy server` arguments")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument(
        "--baseline", help="a source tree (its src/ directory) to run a second server from, measured side by side"
    )
    args = parser.parse_args()

    records: list[dict[str, Any]] = []
    info: dict[str, str] = {}
    for kind in args.backends:
        with backend(kind) as be:
            info.update(versions(be.pg))
            records += measure(be, args)
    save_json(args.json, {"versions": info, "command": command_line(), "records": records})
    print(f"Command: `{command_line()}`\n")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n")
    print(report(records, args))


if __name__ == "__main__":
    main()
