"""kill -9 of worker processes mid-job: their jobs leave RUNNING within the lease, and retries run elsewhere.

The workers are real processes running the schedy client (``worker.py``),
sending heartbeats every ``HEARTBEAT`` seconds; the service ends a job
whose heartbeats stop ``LEASE_BEATS`` intervals after the last one, at its
next sweep (every second).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from contextlib import closing
from datetime import datetime

import pytest

from schedy.server.store.jobs import LEASE_BEATS
from tests.chaos.harness import WorkerProcess, poll, session

HEARTBEAT = 0.5
LEASE = HEARTBEAT * LEASE_BEATS
SWEEP = 1.0
# Scheduling delays of a loaded two-core machine, on top of the lease and one sweep.
SLACK = 5.0


def _when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_killed_workers_jobs_end_within_the_lease_and_their_retries_finish_elsewhere(service):
    name = f"chaos-{uuid.uuid4().hex[:8]}"
    with closing(session(service.url, service.user)) as http:
        exp = f"experiments/{name}/"
        body = {"status": "RUNNING", "scheduler": {"Manual": None}, "maxRetries": 1}
        assert http.put(exp, json=body, headers={"If-None-Match": "*"}).status_code == 201
        for i in range(3):
            assert http.post(exp + "jobs/", json={"hyperparameters": {"seconds": 600, "i": i}}).status_code == 201
        workers = [WorkerProcess(service.url, service.user, name, HEARTBEAT) for _ in range(3)]
        try:
            held = [worker.next_started(timeout=60) for worker in workers]
            assert sorted(attempt for _, attempt in held) == [1, 1, 1]
            assert len({job_id for job_id, _ in held}) == 3

            def status(job_id: str) -> dict:
                return http.get(f"{exp}jobs/{job_id}/").json()

            # Longer than a lease and a sweep: only the heartbeats keep these jobs.
            time.sleep(LEASE + SWEEP + 1.0)
            assert [status(job_id)["status"] for job_id, _ in held] == ["RUNNING"] * 3

            for worker in workers[:2]:
                worker.kill()
            killed_at = time.time()
            ended = [
                poll(
                    lambda job_id=job_id: ((job := status(job_id))["status"] != "RUNNING" and job) or None,
                    timeout=LEASE + SWEEP + SLACK + 10,
                    what=f"job {job_id} of a killed worker left RUNNING",
                )
                for job_id, _ in held[:2]
            ]
            for job in ended:
                assert (job["status"], job["endReason"], job["attempt"]) == ("CRASHED", "lease-expired", 1)
                assert _when(job["finishedAt"]) - killed_at < LEASE + SWEEP + SLACK
            assert status(held[2][0])["status"] == "RUNNING"  # the live worker keeps its job

            # maxRetries: 1 re-queued each as attempt 2, with the same hyperparameters; a new worker runs them.
            workers.append(WorkerProcess(service.url, service.user, name, HEARTBEAT))
            retried = [workers[-1].next_started(timeout=60) for _ in range(2)]
            assert [attempt for _, attempt in retried] == [2, 2]
            for job_id, _ in retried:
                done = poll(
                    lambda job_id=job_id: ((job := status(job_id))["status"] == "DONE" and job) or None,
                    timeout=60,
                    what=f"retry {job_id} finished",
                )
                assert done["attempt"] == 2
            hyperparameters = {tuple(sorted(status(j)["hyperparameters"].items())) for j, _ in retried}
            assert hyperparameters == {tuple(sorted(job["hyperparameters"].items())) for job in ended}
            events = http.get(exp + "events/").json()["items"]
            assert sorted((e["kind"], e["job"]) for e in events) == sorted(
                ("lease-expired", job["id"]) for job in ended
            )
            assert {e["retry"] for e in events} == {job_id for job_id, _ in retried}
        finally:
            for worker in workers:
                worker.stop()


def _all_jobs(http, exp: str) -> list[dict]:
    items: list[dict] = []
    params: dict = {"limit": 1000}
    while True:
        page = http.get(exp + "jobs/", params=params).json()
        items += page["items"]
        if page["next"] is None:
            return items
        params["start"] = page["next"]


@pytest.mark.slow
def test_workers_killed_at_random_moments_leave_no_job_running_and_every_job_finishes(service):
    """Waves of kill -9 at random moments (mid-job, between jobs, mid-request); every job ends DONE in the end.

    Each job is a chain of attempts: a retry is queued only when the attempt
    before it was ended by its lease, so once every chain has its DONE
    attempt, and every worker is gone, its leases lapsed and a sweep ran,
    nothing may be left RUNNING (a lease never swept) or QUEUED (a retry of a
    job that had finished): every other attempt is CRASHED by its lease.
    """
    rng = random.Random(20261127)
    name = f"chaos-waves-{uuid.uuid4().hex[:8]}"
    jobs = 60
    with closing(session(service.url, service.user)) as http:
        exp = f"experiments/{name}/"
        body = {"status": "RUNNING", "scheduler": {"Manual": None}, "maxRetries": 20}
        assert http.put(exp, json=body, headers={"If-None-Match": "*"}).status_code == 201
        for i in range(jobs):
            job = {"hyperparameters": {"seconds": rng.uniform(0.2, 2.0), "i": i}}
            assert http.post(exp + "jobs/", json=job).status_code == 201
        workers = [WorkerProcess(service.url, service.user, name, HEARTBEAT) for _ in range(6)]
        started = list(workers)
        killed = 0
        try:
            for _wave in range(8):
                time.sleep(rng.uniform(0.5, 3.0))
                for worker in rng.sample(workers, 2):
                    if worker.process.poll() is None:
                        worker.kill()
                        killed += 1
                workers = [w for w in workers if w.process.poll() is None]
                workers += [WorkerProcess(service.url, service.user, name, HEARTBEAT) for _ in range(6 - len(workers))]
                started += [w for w in workers if w not in started]

            def finished() -> list[dict] | None:
                items = _all_jobs(http, exp)
                by_i: dict[int, list[dict]] = {}
                for job in items:
                    by_i.setdefault(job["hyperparameters"]["i"], []).append(job)
                done = all(any(j["status"] == "DONE" for j in chain) for chain in by_i.values())
                return items if done and len(by_i) == jobs else None

            poll(finished, timeout=300, what="every job finished", interval=1.0)
        finally:
            for worker in started:
                worker.stop()
        assert killed >= 8
        # No worker is left; any lease still held lapses and is swept within this.
        time.sleep(LEASE + SWEEP + SLACK)
        items = _all_jobs(http, exp)
        statuses = Counter(j["status"] for j in items)
        assert statuses["RUNNING"] == 0, f"jobs left RUNNING after their leases lapsed: {statuses}"
        assert statuses["QUEUED"] == 0, f"retries queued for jobs that had finished: {statuses}"
        assert set(statuses) <= {"DONE", "CRASHED"}
        assert statuses["DONE"] == jobs
        # Every attempt that did not finish was ended by its lease, and retried until one attempt finished.
        for job in items:
            if job["status"] == "CRASHED":
                assert job["endReason"] == "lease-expired", job
        chains: dict[int, list[dict]] = {}
        for job in items:
            chains.setdefault(job["hyperparameters"]["i"], []).append(job)
        for chain in chains.values():
            assert sum(j["status"] == "DONE" for j in chain) == 1  # never run to the end twice
            assert sorted(j["attempt"] for j in chain) == list(range(1, len(chain) + 1))
