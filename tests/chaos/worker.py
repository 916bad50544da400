"""A worker process for the chaos tests: runs jobs with the schedy client until killed.

Usage: ``python worker.py ROOT EMAIL TOKEN EXPERIMENT HEARTBEAT``. Each job
sleeps ``hyperparameters["seconds"]`` on its first attempt and finishes at
once on a retry. The worker prints ``started ID ATTEMPT`` and ``done ID``
lines (flushed), so the test knows which job it holds when it kills it.
"""

from __future__ import annotations

import sys
import time

import schedy


def main(root: str, email: str, token: str, experiment: str, heartbeat: str) -> None:
    db = schedy.SchedyDB(config_override={"root": root, "email": email, "token": token}, heartbeat=float(heartbeat))
    exp = db.get_experiment(experiment)
    for job in exp.jobs(wait=2, idle_timeout=120):
        with job:
            print(f"started {job.job_id} {job.attempt}", flush=True)
            if job.attempt == 1:
                time.sleep(float(job.hyperparameters.get("seconds", 0)))
            job.results["worker"] = db.worker
        print(f"done {job.job_id}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
