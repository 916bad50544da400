"""Listing an experiment whose jobs all crashed with a traceback: ``list(exp.all_jobs())`` through a real service.

A job's JSON carries what it raised (``error``: type and message, read from the stored error with its
traceback). This measures that cost in its worst case, every job crashed with a traceback of about
2.5 KB.

Usage::

    python bench/crashed_list.py [N] [--backends sqlite postgres]
        # N crashed jobs (default 3000); SQLite in a temporary directory, PostgreSQL a throwaway cluster

Run it with ``PYTHONPATH=OLD/src`` for another source tree's service and client (before and after).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx
from _common import backend, server

import schedy

#: A traceback of about 2.5 KB, as a training loop's crash sends it.
TRACEBACK = (
    "Traceback (most recent call last):\n"
    + "".join(f'  File "/src/train.py", line {i}, in step\n    loss = model(x)\n' for i in range(40))
    + "RuntimeError: CUDA out of memory\n"
)


def main(count: int, kind: str, traceback: str) -> None:
    """Fill an experiment with ``count`` crashed jobs on a ``kind`` database, then time seven listings of it."""
    with backend(kind) as db_kind, server(Path(db_kind.directory), db_kind.new_url("crashed")) as service:
        user = service.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            db.add_experiment(schedy.ManualSearch("crashes"))
            with httpx.Client(base_url=service.url, timeout=60) as http:
                login = {"email": user.email, "token": user.api_token}
                http.headers["Authorization"] = "Bearer " + http.post("token/", json=login).json()["token"]
                for i in range(count):
                    body = {"status": "CRASHED", "hyperparameters": {"x": i}, "results": {}}
                    job = http.post("experiments/crashes/jobs/", json=body).json()["id"]
                    error = {"type": "RuntimeError", "message": "CUDA out of memory", "traceback": traceback}
                    sent = http.put(f"experiments/crashes/jobs/{job}/error/", json=error)
                    assert sent.status_code == 204, sent.text
            times = []
            for _ in range(7):
                start = time.perf_counter()
                jobs = list(db.get_experiment("crashes").all_jobs())
                times.append(time.perf_counter() - start)
            assert len(jobs) == count
        median, least = statistics.median(times) * 1000, min(times) * 1000
        size = f"{len(traceback) / 1024:.1f} KiB tracebacks"
        print(f"{kind}: {count} crashed jobs ({size}): all_jobs median {median:.0f} ms, min {least:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("count", type=int, nargs="?", default=3000, help="crashed jobs (default 3000)")
    parser.add_argument("--backends", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--long", action="store_true", help="tracebacks of 40 KiB (a deep stack) instead of 2.5 KB")
    arguments = parser.parse_args()
    for kind in arguments.backends:
        main(arguments.count, kind, TRACEBACK * 16 if arguments.long else TRACEBACK)
