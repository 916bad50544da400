"""Profile the hot path: py-spy samples the server (and one worker) while W workers loop claim + complete.

Usage::

    python bench/profile_hotpath.py --backend sqlite --workers 4 --search random --seconds 8
    python bench/profile_hotpath.py --backend postgres --flamegraph /tmp/server.svg

Prints, for the server process and one worker process, where the samples
fall: by layer (uvicorn, Starlette/FastAPI, SQLAlchemy, the database driver,
Schedy's own code, JSON, JWT...) and the functions with the most inclusive
time. Needs py-spy (``pip install py-spy``; as root, or with ptrace allowed).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    CTX,
    backend,
    bulk_load,
    create_experiment,
    experiment_id,
    log,
    manual_search,
    random_search,
    server,
    table,
)
from throughput import schedy_worker

# First match wins: a sample is charged to the innermost frame whose file matches.
LAYERS = (
    ("sqlite3 (C)", ("sqlite3/", "_sqlite3")),
    ("psycopg", ("psycopg",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("JWT", ("jwt/",)),
    ("json", ("json/",)),
    ("Schedy", ("schedy/",)),
    ("FastAPI/Starlette/pydantic", ("fastapi/", "starlette/", "pydantic", "anyio/")),
    ("uvicorn/httptools", ("uvicorn/", "httptools", "h11/")),
    ("asyncio/threads", ("asyncio/", "threading.py", "concurrent/", "selectors.py", "queue.py")),
    ("http.client/socket", ("http/client.py", "socket.py", "email/")),
)


def _layer(frame: str) -> str | None:
    for name, needles in LAYERS:
        if any(n in frame for n in needles):
            return name
    return None


def summarise(collapsed: Path, top: int) -> str:
    """Layers (innermost matching frame) and functions (inclusive) of a py-spy ``--format raw`` file."""
    by_layer: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        if any(w in leaf for w in ("select (", "epoll", "poll (", "wait (", "acquire", "_worker (concurrent")):
            idle += count
        layer = "other"
        for frame in reversed(frames):
            found = _layer(frame)
            if found is not None:
                layer = found
                break
        by_layer[layer] += count
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].split("/")[-1] + ")"
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
    if not total:
        return "(no samples)"
    out = [f"{total} samples, of which idle-looking (waiting in select/poll/lock) {idle / total:.0%}\n"]
    layers = [[k, f"{v / total:.1%}"] for k, v in by_layer.most_common()]
    out.append(table(["layer (innermost frame)", "share"], layers))
    out.append("")
    functions = [[k, f"{v / total:.1%}"] for k, v in inclusive.most_common(top)]
    out.append(table(["function (inclusive)", "share"], functions))
    return "\n".join(out)


def record(pid: int, seconds: float, out: Path, rate: int, gil: bool = True) -> subprocess.Popen[bytes]:
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    command += ["--format", "raw", "--output", str(out), "--nonblocking"]
    if gil:
        # Only the thread holding the GIL: where the Python CPU goes (C code that
        # releases it, e.g. SQLite executing a statement, is not sampled).
        command.append("--gil")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--search", default="random", choices=["random", "queue"])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--server-args", nargs="*", default=[])
    parser.add_argument("--all-threads", action="store_true", help="sample every thread, not only the GIL holder")
    parser.add_argument("--flamegraph", type=Path, help="also write the server's flame graph (SVG) here")
    args = parser.parse_args()

    with backend(args.backend) as be:
        url = be.new_url("profile")
        with server(be.directory, url, *args.server_args) as service:
            user = service.new_user()
            config = user.client_config
            name = "profile"
            if args.search == "random":
                create_experiment(config, random_search(name))
            else:
                create_experiment(config, manual_search(name))
                bulk_load(url, experiment_id(url, user.email, name), 100_000)
            tmp = Path(tempfile.mkdtemp(prefix="schedy-profile-"))
            results: list[Any] = []
            runner = threading.Thread(
                target=lambda: results.append(_run(config, name, args.workers, args.seconds + 3)), daemon=True
            )
            runner.start()
            time.sleep(2.0)  # workers logged in and looping
            workers = [c for c in _children() if c != service.process.pid]
            server_out, worker_out = tmp / "server.txt", tmp / "worker.txt"
            gil = not args.all_threads
            spies = [record(service.process.pid, args.seconds, server_out, args.rate, gil)]
            if workers:
                spies.append(record(workers[0], args.seconds, worker_out, args.rate, gil))
            if args.flamegraph:
                flame = ["py-spy", "record", "--pid", str(service.process.pid), "--duration", str(int(args.seconds))]
                spies.append(
                    subprocess.Popen(
                        [*flame, "--rate", "100", "--output", str(args.flamegraph), "--nonblocking"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for spy in spies:
                spy.wait(args.seconds + 60)
            runner.join(args.seconds + 60)
    print(f"## Server ({args.backend}, {args.search}, W={args.workers})\n")
    print(summarise(server_out, args.top))
    if worker_out.exists():
        print("\n## One worker\n")
        print(summarise(worker_out, args.top))
    if results:
        log(f"cycles/s during the profile (sampling slows it): {results[0]:.0f}")


def _children() -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process().children(recursive=False) if "python" in c.name()]


def _run(config: dict[str, str], name: str, workers: int, seconds: float) -> float:
    from _common import run_workers

    run = run_workers(schedy_worker, (config, name, seconds), workers)
    return run.rate


if __name__ == "__main__":
    assert CTX is not None
    main()
