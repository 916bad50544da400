"""One process of the load test: worker threads looping on the schedy client for a fixed time.

Usage: ``python load_worker.py CONFIG_JSON``; prints one JSON object when
done: every ``next_job`` latency (seconds), the ids claimed, the jobs
finished (id → worker) and every error, including the client's own retries
(a retry means the service failed a request, which the load test forbids).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

import schedy
from schedy.errors import NoJobError


class _Retries(logging.Handler):
    """Collects the client's warnings: it logs one for every request it has to retry."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main(config: dict[str, Any]) -> None:
    retries = _Retries()
    logging.getLogger("schedy").addHandler(retries)
    lock = threading.Lock()
    latencies: list[float] = []
    claimed: list[str] = []
    finished: dict[str, str] = {}
    errors: list[str] = []
    empty = 0
    start = threading.Barrier(config["threads"])

    def work(index: int) -> None:
        nonlocal empty
        number = config["first_index"] + index
        name = f"worker-{number}"
        url = config["urls"][number % len(config["urls"])]
        auth = {"root": url, "email": config["email"], "token": config["token"]}
        on_queue = number % 4 == 0  # a quarter drain (and refill) a queue; the rest ask a random search
        try:
            with schedy.SchedyDB(config_override=auth, heartbeat=30, worker=name) as db:
                exp = db.get_experiment(config["queue"] if on_queue else config["random"])
                start.wait()  # every thread logged in and ready: the load starts at once
                deadline = time.monotonic() + config["seconds"]
                while time.monotonic() < deadline:
                    asked = time.perf_counter()
                    try:
                        job = exp.next_job()
                    except NoJobError:
                        with lock:
                            empty += 1
                        continue
                    took = time.perf_counter() - asked
                    with job:
                        job.results["by"] = name
                    if on_queue:  # keep the queue as long as it was
                        exp.add_job(hyperparameters={"from": name})
                    with lock:
                        latencies.append(took)
                        claimed.append(job.job_id)
                        finished[job.job_id] = name
        except Exception as exc:
            with lock:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(config["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors += [f"client retried: {message}" for message in retries.messages]
    json.dump(
        {"latencies": latencies, "claimed": claimed, "finished": finished, "errors": errors, "empty": empty},
        sys.stdout,
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
