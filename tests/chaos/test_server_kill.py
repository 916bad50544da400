"""kill -9 of the service mid-load, then a restart: nothing acknowledged is lost, nothing is handed out twice.

Workers (threads using the schedy client, as users run it) claim and finish
jobs of a queue and of a random search while a producer adds jobs. The
service process is killed with SIGKILL while requests are in flight and
started again on the same database and port. The clients ride out the
outage with their retries; afterwards:

* every job creation and every result the service acknowledged is there;
* no job was handed to two workers, before or after the restart;
* every worker finished jobs after the restart, without an error;
* jobs whose claim answer was lost in the crash hold a lease, so the
  service ends them (the slow variant waits and checks that it does).

The service runs with ``--lease-grace`` longer than an outage, so that the
heartbeats lost while it is down do not end the jobs of live workers.
PostgreSQL itself is never killed: only the service process is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import schedy
from schedy.errors import HTTPError, NoJobError
from schedy.random import Uniform
from schedy.testing import Credentials, ServiceProcess
from tests.chaos.harness import poll, session

HEARTBEAT = 1.0
GRACE = 20.0


@dataclass
class Ledger:
    """What the service acknowledged to the clients, and what went wrong."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    added: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    finished: dict[str, dict] = field(default_factory=dict)  # job id → results, after a 200
    finished_after_restart: Counter[str] = field(default_factory=Counter)  # worker → jobs
    unsure_adds: int = 0
    errors: list[str] = field(default_factory=list)


class Load:
    """A producer and workers running against one service until stopped."""

    def __init__(self, user: Credentials, queue: str, random: str, workers: int) -> None:
        self.user = user
        self.names = (queue, random)
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.restarted = threading.Event()
        self.threads = [threading.Thread(target=self._produce, name="producer")]
        self.threads += [threading.Thread(target=self._work, args=(i,), name=f"worker-{i}") for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def _db(self) -> schedy.SchedyDB:
        return schedy.SchedyDB(config_override=self.user.client_config, heartbeat=HEARTBEAT, timeout=60)

    def _produce(self) -> None:
        with self._db() as db:
            exp = db.get_experiment(self.names[0])
            n = 0
            while not self.stop.is_set() and n < 5000:
                n += 1
                try:
                    job = exp.add_job(hyperparameters={"n": n})
                except HTTPError as exc:
                    if exc.code is not None:  # an answer: the service refused it
                        self.ledger.errors.append(f"producer: {exc}")
                        return
                    with self.ledger.lock:  # no answer, and not sent again: maybe added, maybe not
                        self.ledger.unsure_adds += 1
                    continue
                with self.ledger.lock:
                    self.ledger.added.append(job.job_id)
                time.sleep(0.005)

    def _work(self, index: int) -> None:
        name = threading.current_thread().name
        try:
            with self._db() as db:
                exp = db.get_experiment(self.names[index % 2])
                while not self.stop.is_set():
                    try:
                        job = exp.next_job(wait=0.5, worker=name)
                    except NoJobError:
                        continue
                    with self.ledger.lock:
                        self.ledger.claimed.append(job.job_id)
                    with job:
                        job.results["by"] = name
                    with self.ledger.lock:
                        self.ledger.finished[job.job_id] = dict(job.results)
                        if self.restarted.is_set():
                            self.ledger.finished_after_restart[name] += 1
        except Exception as exc:
            self.ledger.errors.append(f"{name}: {type(exc).__name__}: {exc}")

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)
            assert not thread.is_alive(), f"{thread.name} did not stop"


def _all_jobs(http: httpx.Client, name: str) -> dict[str, dict]:
    jobs: dict[str, dict] = {}
    params: dict = {"limit": 1000}
    while True:
        page = http.get(f"experiments/{name}/jobs/", params=params).json()
        jobs.update((job["id"], job) for job in page["items"])
        if page["next"] is None:
            return jobs
        params["start"] = page["next"]


def _kill_restart_and_verify(
    database_url: str, home: Path, *, workers: int, cycles: int, wait_leases: bool, report: Callable[[str], None]
) -> None:
    args = ("--lease-grace", str(GRACE))
    service = ServiceProcess.start(home, database_url, extra_args=args)
    try:
        user = service.new_user()
        db = schedy.SchedyDB(config_override=user.client_config)
        queue, random = f"queue-{uuid.uuid4().hex[:6]}", f"random-{uuid.uuid4().hex[:6]}"
        db.add_experiment(schedy.ManualSearch(queue))
        db.add_experiment(schedy.RandomSearch(random, {"x": Uniform(0, 1)}))
        db.close()
        load = Load(user, queue, random, workers)
        try:
            for _cycle in range(cycles):
                poll(lambda: len(load.ledger.finished) >= 20 or None, timeout=120, what="the load got going")
                time.sleep(0.5)
                acknowledged_before = len(load.ledger.finished) + len(load.ledger.added)
                service.kill()  # SIGKILL, mid-load
                time.sleep(0.5)
                service = ServiceProcess.start(home, database_url, port=service.port, extra_args=args)
                load.restarted.set()
                assert acknowledged_before > 0
                # Every worker recovers by itself and finishes jobs again.
                poll(
                    lambda: len(load.ledger.finished_after_restart) == workers or None,
                    timeout=120,
                    what=f"every worker finished a job after the restart ({load.ledger.finished_after_restart})",
                )
                load.ledger.finished_after_restart.clear()
        finally:
            load.join()
        ledger = load.ledger
        assert ledger.errors == []
        assert len(ledger.claimed) == len(set(ledger.claimed)), "a job was handed to two workers"

        with closing(session(service.url, user)) as http:
            queued = _all_jobs(http, queue)
            searched = _all_jobs(http, random)
            missing = [job_id for job_id in ledger.added if job_id not in queued]
            assert missing == [], f"acknowledged job creations lost: {missing}"
            everything = {**queued, **searched}
            for job_id, results in ledger.finished.items():
                job = everything.get(job_id)
                assert job is not None, f"finished job {job_id} lost"
                assert (job["status"], job["results"]) == ("DONE", results), f"acknowledged result of {job_id} lost"
            # Jobs claimed when the service died, whose answer never arrived, hold a lease.
            running = [job for job in everything.values() if job["status"] == "RUNNING"]
            report(
                f"{len(ledger.added)} adds and {len(ledger.finished)} results acknowledged, all kept; "
                f"{len(ledger.claimed)} claims, none twice; {ledger.unsure_adds} adds unanswered; "
                f"{len(running)} claims left RUNNING (answer lost in a crash)"
            )
            assert all(job["leaseExpiresAt"] is not None for job in running), running
            if wait_leases and running:

                def ended() -> bool | None:
                    statuses = {**_all_jobs(http, queue), **_all_jobs(http, random)}
                    return all(statuses[job["id"]]["status"] != "RUNNING" for job in running) or None

                poll(ended, timeout=HEARTBEAT * 3 + GRACE + 30, what="leaked claims ended", interval=1.0)
                for job in running:
                    again = everything[job["id"]] = http.get(
                        f"experiments/{job['experiment']}/jobs/{job['id']}/"
                    ).json()
                    assert (again["status"], again["endReason"]) == ("CRASHED", "lease-expired")
    finally:
        service.stop()


def _reporter(capsys, what: str) -> Callable[[str], None]:
    def report(line: str) -> None:
        with capsys.disabled():
            print(f"\n{what}: {line}")

    return report


def test_a_killed_service_restarts_with_every_acknowledged_write_and_no_double_claim(database_url, tmp_path, capsys):
    report = _reporter(capsys, f"kill -9 of the service, {database_url.split(':')[0]}")
    _kill_restart_and_verify(database_url, tmp_path / "home", workers=6, cycles=1, wait_leases=False, report=report)


@pytest.mark.slow
def test_repeated_service_kills_under_load_lose_nothing_and_leaked_claims_end(database_url, tmp_path, capsys):
    report = _reporter(capsys, f"4 kills -9 of the service, {database_url.split(':')[0]}")
    _kill_restart_and_verify(database_url, tmp_path / "home", workers=16, cycles=4, wait_leases=True, report=report)
