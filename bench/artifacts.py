"""Artifact transfer: upload and download through the service against a plain file copy, and the server's RSS.

A real ``schedy server`` (SQLite, local blob store in its data directory)
on loopback; the client uploads a file with ``job.save_artifact`` (SHA-256
of the file first, then ``sendfile``; the service hashes and writes it) and
downloads it with ``job.load_artifact`` (hashed and written to a temporary
file, then renamed). The reference is ``shutil.copyfile`` of the same file
on the same disk. The server's RSS is sampled every 20 ms during each
transfer, and the CPU seconds the server and the client (this process, the
RSS sampler included) spent during it are shown per GiB, to tell where the
time goes.

Usage::

    python bench/artifacts.py                 # 100 MiB and 1 GiB, 3 repetitions
    python bench/artifacts.py --sizes 100 --reps 1

Prints a markdown table (medians; MiB/s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

import schedy
from schedy.testing import ServiceProcess


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _rss_during(pid: int, action: Callable[[], object], cpu: list[tuple[float, float]]) -> tuple[float, int, int]:
    """Seconds ``action`` took, and the server's RSS before and at most during it (bytes).

    Appends to ``cpu`` the CPU seconds (all threads, user + system) the
    server and this process spent meanwhile.
    """
    proc = psutil.Process(pid)
    me = psutil.Process()
    before = proc.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    server_cpu, client_cpu = _cpu(proc), _cpu(me)
    started = time.perf_counter()
    try:
        action()
    finally:
        elapsed = time.perf_counter() - started
        cpu.append((_cpu(proc) - server_cpu, _cpu(me) - client_cpu))
        done.set()
        sampler.join()
    return elapsed, before, peak


def _per_gib(cpu: list[tuple[float, float]], mib: int) -> str:
    server = statistics.median(s for s, _ in cpu) * 1024 / mib
    client = statistics.median(c for _, c in cpu) * 1024 / mib
    return f"{server:.2f}, {client:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1024], help="MiB")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="schedy-bench-artifacts-") as tmp:
        root = Path(tmp)
        service = ServiceProcess.start(root / "home")
        try:
            with schedy.SchedyDB(config_override=service.new_user().client_config) as db:
                exp = schedy.ManualSearch("bench")
                db.add_experiment(exp)
                job = exp.add_job(hyperparameters={})
                print(
                    "| size | copy MiB/s | upload MiB/s (× copy time) | download MiB/s (× copy time) "
                    "| server RSS before → peak (MiB) | CPU s/GiB up: server, client "
                    "| CPU s/GiB down: server, client |"
                )
                print("|---|---|---|---|---|---|---|")
                for mib in args.sizes:
                    source = root / f"source-{mib}"
                    with source.open("wb") as out:
                        block = os.urandom(1 << 20)
                        for _ in range(mib):
                            out.write(block)
                    copies, ups, downs, rss = [], [], [], []
                    up_cpu: list[tuple[float, float]] = []
                    down_cpu: list[tuple[float, float]] = []
                    for _ in range(args.reps):
                        started = time.perf_counter()
                        shutil.copyfile(source, root / "copy")
                        copies.append(time.perf_counter() - started)
                        (root / "copy").unlink()
                        seconds, before, peak = _rss_during(
                            service.process.pid, lambda src=source: job.save_artifact(src), up_cpu
                        )
                        ups.append(seconds)
                        rss.append((before, peak))
                        seconds, _, peak2 = _rss_during(
                            service.process.pid, lambda src=source: job.load_artifact(src.name, root / "back"), down_cpu
                        )
                        downs.append(seconds)
                        rss.append((before, peak2))
                        (root / "back").unlink()
                    copy, up, down = (statistics.median(x) for x in (copies, ups, downs))
                    low = min(b for b, _ in rss) >> 20
                    high = max(p for _, p in rss) >> 20
                    print(
                        f"| {mib} MiB | {mib / copy:.0f} | {mib / up:.0f} ({up / copy:.1f}×) "
                        f"| {mib / down:.0f} ({down / copy:.1f}×) | {low} → {high} | {_per_gib(up_cpu, mib)} "
                        f"| {_per_gib(down_cpu, mib)} |"
                    )
                    source.unlink()
        finally:
            service.stop()


if __name__ == "__main__":
    main()
