"""What the benchmarks share: databases, servers, bulk loads, worker processes, statistics.

Every benchmark runs on loopback only, with bounded loops: workers run for a
fixed duration and stop by themselves. Helpers here are private to bench/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from schedy.testing import PostgresCluster, ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
# Fork: workers start in a few milliseconds and inherit the imports.
CTX = mp.get_context("fork")


# -- environment ------------------------------------------------------------


def _version(module: str) -> str:
    try:
        from importlib import metadata

        return metadata.version(module)
    except Exception:
        return "-"


def versions(pg: PostgresCluster | None = None) -> dict[str, str]:
    """What the run measured: commit, library versions, date, machine."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    out = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "schedy": f"{commit}{' + uncommitted changes in src/' if dirty else ''}",
        "python": platform.python_version(),
        "optuna": _version("optuna"),
        "sqlalchemy": _version("sqlalchemy"),
        "psycopg": _version("psycopg"),
        "uvicorn": _version("uvicorn"),
        "fastapi": _version("fastapi"),
        "sqlite": __import__("sqlite3").sqlite_version,
        "cpus": str(os.cpu_count()),
    }
    if pg is not None:
        with _pg_connect(pg) as conn:
            out["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])
    return out


def _pg_connect(pg: PostgresCluster) -> Any:
    import psycopg

    return psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres", autocommit=True)


# -- databases and servers ----------------------------------------------------


@dataclass
class Backend:
    """A database kind: SQLite files in a directory, or databases of a throwaway PostgreSQL cluster."""

    kind: str  # "sqlite" or "postgres"
    directory: Path
    pg: PostgresCluster | None = None
    _count: int = 0

    def new_url(self, label: str) -> str:
        """A fresh, empty database (SQLAlchemy URL)."""
        self._count += 1
        if self.pg is None:
            return f"sqlite:///{self.directory / f'{label}-{self._count}.db'}"
        return self.pg.new_database()


@contextlib.contextmanager
def backend(kind: str) -> Iterator[Backend]:
    """A database kind for the duration of a ``with`` block (PostgreSQL: a throwaway cluster)."""
    directory = Path(tempfile.mkdtemp(prefix=f"schedy-bench-{kind}-"))
    pg = PostgresCluster.start() if kind == "postgres" else None
    try:
        yield Backend(kind, directory, pg)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def server(directory: Path, url: str, *extra_args: str) -> Iterator[ServiceProcess]:
    """``schedy server --database URL``, started the way a user would, until the block ends."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=directory))
    service = ServiceProcess.start(home, url, extra_args=tuple(extra_args))
    try:
        yield service
    finally:
        service.stop()


def process_tree_rss(pid: int) -> int:
    """Resident memory of a process and its children, bytes."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


# -- the experiments --------------------------------------------------------

#: The search space of every benchmark: two uniform floats in [-10, 10].
SPACE = {"x": (-10.0, 10.0), "y": (-10.0, 10.0)}


def objective(hps: dict[str, float]) -> float:
    """The trivial objective."""
    return hps["x"] ** 2 + hps["y"] ** 2


def random_search(name: str, max_jobs: int | None = None, seed: int | None = None) -> Any:
    import schedy
    from schedy.random import Uniform

    space = {k: Uniform(lo, hi) for k, (lo, hi) in SPACE.items()}
    return schedy.RandomSearch(name, space, max_jobs=max_jobs, seed=seed)


def manual_search(name: str) -> Any:
    import schedy

    return schedy.ManualSearch(name)


def create_experiment(config: dict[str, str], experiment: Any) -> None:
    import schedy

    with schedy.SchedyDB(config_override=config) as db:
        db.add_experiment(experiment)


def experiment_id(url: str, owner_email: str, name: str) -> int:
    from sqlalchemy import select

    from schedy.server.store import Store
    from schedy.server.store.tables import experiments, users

    store = Store(url, pool_size=1)
    try:
        with store.read() as conn:
            owner = conn.execute(select(users.c.id).where(users.c.email == owner_email)).scalar_one()
            return int(
                conn.execute(
                    select(experiments.c.id).where(experiments.c.owner_id == owner, experiments.c.name == name)
                ).scalar_one()
            )
    finally:
        store.dispose()


def bulk_load(url: str, exp_id: int, n: int, status: str = "QUEUED", batch: int = 50_000) -> float:
    """Insert ``n`` jobs into an experiment directly through the store; return the seconds it took.

    Big ``executemany`` batches of plain tuples (``COPY`` on PostgreSQL), in
    one transaction: a million rows take about 20 s on SQLite. ``status`` is QUEUED (a manual queue) or DONE
    (a search's history, with a result).
    """
    from schedy.server.service.jobs import new_job_id
    from schedy.server.store import Store

    rng = random.Random(n)
    store = Store(url, pool_size=1)
    marker = "?" if store.is_sqlite else "%s"
    columns = (
        "experiment_id, job_id, status, priority, hyperparameters, results, version, created_at, updated_at, "
        "started_at, finished_at, worker, attempt, end_reason"
    )
    sql = f"INSERT INTO jobs ({columns}) VALUES ({', '.join([marker] * 14)})"
    now = time.time()
    done = status == "DONE"
    t0 = time.perf_counter()
    try:
        with store.write() as conn:
            for start in range(0, n, batch):
                rows = []
                for i in range(start, min(n, start + batch)):
                    x, y = rng.uniform(-10, 10), rng.uniform(-10, 10)
                    hps = f'{{"x":{x!r},"y":{y!r}}}'
                    results = f'{{"loss":{x * x + y * y!r}}}' if done else "{}"
                    t = now - n + i
                    rows.append(
                        (
                            exp_id,
                            new_job_id(),
                            status,
                            0,
                            hps,
                            results,
                            3 if done else 1,
                            t,
                            t,
                            t if done else None,
                            t if done else None,
                            "bulk" if done else None,
                            1,
                            "reported" if done else None,
                        )
                    )
                if store.is_sqlite:
                    conn.exec_driver_sql(sql, rows)
                else:  # COPY: several times faster than an executemany on PostgreSQL
                    raw = conn.connection.dbapi_connection
                    assert raw is not None
                    with raw.cursor() as cur, cur.copy(f"COPY jobs ({columns}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
        if not store.is_sqlite:
            with store.write() as conn:
                conn.exec_driver_sql("ANALYZE jobs")
    finally:
        store.dispose()
    return time.perf_counter() - t0


# -- worker processes -------------------------------------------------------


@dataclass
class Run:
    """What W workers did in one timed window."""

    cycles: int
    seconds: float
    latencies: list[float]  # of the claim (next_job / ask / first round trip), seconds
    errors: int = 0
    exhausted: bool = False
    worker_rss: list[int] = field(default_factory=list)
    worker_cpu: float = 0.0  # seconds, all workers
    server_cpu: float = 0.0  # seconds, the server process tree

    @property
    def server_us(self) -> float:
        """Server CPU per cycle, µs."""
        return self.server_cpu / max(1, self.cycles) * 1e6

    @property
    def worker_us(self) -> float:
        """Worker CPU per cycle, µs."""
        return self.worker_cpu / max(1, self.cycles) * 1e6

    @property
    def rate(self) -> float:
        return self.cycles / self.seconds

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def _worker_main(target: Callable[..., Any], args: tuple[Any, ...], ready: Any, go: Any, out: Any) -> None:
    try:
        out.put(target(*args, ready=ready, go=go))
    except BaseException as exc:  # report, never hang the parent
        ready.set()
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children, seconds."""
    total = 0.0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def run_workers(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    workers: int,
    timeout: float = 300.0,
    server_pid: int | None = None,
    context: str = "fork",
) -> Run:
    """Start ``workers`` processes running ``target(*args, ready=, go=)``; return their summed results.

    Each target does its set-up, sets ``ready``, waits for ``go`` (set once
    all are ready, so set-up never counts), loops for its fixed duration and
    returns ``{"cycles", "seconds", "latencies", "errors", "exhausted", "rss"}``.
    """
    ctx = mp.get_context(context)  # "spawn": fresh interpreters, for honest worker RSS
    readies = [ctx.Event() for _ in range(workers)]
    go = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(target, args, readies[i], go, out), daemon=True) for i in range(workers)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for r in readies:
        r.wait(max(0.1, deadline - time.monotonic()))
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    go.set()
    results = []
    for _ in procs:
        results.append(out.get(timeout=max(1.0, deadline - time.monotonic())))
    server_cpu = cpu_seconds(server_pid) - cpu0 if server_pid else 0.0
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed: {errors[0]}")
    return Run(
        cycles=sum(r["cycles"] for r in results),
        seconds=statistics.fmean(r["seconds"] for r in results),
        latencies=[x for r in results for x in r["latencies"]],
        errors=sum(r["errors"] for r in results),
        exhausted=any(r["exhausted"] for r in results),
        worker_rss=[r["rss"] for r in results],
        worker_cpu=sum(r.get("cpu", 0.0) for r in results),
        server_cpu=server_cpu,
    )


def rss_now() -> int:
    return psutil.Process().memory_info().rss


# -- statistics and tables ----------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Spread:
    """Median and range of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        lo, hi = min(self.values), max(self.values)
        f = f"{{:,.{digits}f}}"
        return f"{f.format(self.median)}{unit} ({f.format(lo)}–{f.format(hi)})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def save_json(path: Path | None, data: Any) -> None:
    if path is not None:
        path.write_text(json.dumps(data, indent=1, default=str))


def command_line() -> str:
    return " ".join(["python", *[a if " " not in a else repr(a) for a in sys.argv]])


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)
