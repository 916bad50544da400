"""A PostgreSQL restart longer than 18 s under running workers: their jobs go on, every report and result kept.

While the service cannot reach its database it answers 503 with
``Retry-After: 2``. The client used to retry ten times at that spacing, so
after 18 s a ``job.report()`` raised ``ServerError`` inside ``with job:``:
the job ended CRASHED (not retried) although its lease had over a minute
left, and a hand-written ``next_job()`` loop died the same way. Real
service, real PostgreSQL cluster stopped (a fast shutdown) and started again.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

import schedy
from schedy import _outage
from schedy.errors import NoJobError
from schedy.random import Uniform
from schedy.testing import PostgresCluster, ServiceProcess

EPOCHS = 5


@pytest.fixture
def service(service_on_own_cluster: ServiceProcess) -> ServiceProcess:
    """The service of this module's tests: on a cluster of the test's own (tests/conftest.py)."""
    return service_on_own_cluster


def _train(job: schedy.Job, hold: threading.Event | None = None, go: threading.Event | None = None) -> None:
    """The documented job body: a loss per epoch, reported each time; ``hold``: pause after epoch 2 until ``go``."""
    for epoch in range(1, EPOCHS + 1):
        time.sleep(0.05)
        job.results["loss"] = 1.0 / epoch
        if job.report(epoch, loss=job.results["loss"]):
            raise schedy.errors.JobPruned()
        if epoch == 2 and hold is not None and go is not None and not hold.is_set():
            hold.set()
            go.wait(120)


def _check_every_job_done_once_with_its_reports(exp: schedy.Experiment, total: int) -> None:
    jobs = exp.all_jobs()
    assert sorted((j.status, j.attempt, j.end_reason) for j in jobs) == [("DONE", 1, "reported")] * total
    for job in jobs:
        assert job.results == {"loss": 1.0 / EPOCHS}
        assert {r["step"] for r in job.reports()} == set(range(1, EPOCHS + 1))


def test_a_report_waits_for_a_database_away_longer_than_the_transports_retries(
    own_cluster: PostgresCluster,
    service: ServiceProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two tries per request (a quarter of a second), so a 5 s restart outlasts them: the report waits, as the
    update that ends a job does, and the job goes on instead of ending CRASHED."""
    monkeypatch.setattr(_outage, "OUTAGE_PAUSE", 0.5)
    total = 6
    with schedy.SchedyDB(config_override=service.new_user().client_config, heartbeat=5, max_attempts=2) as db:
        exp = db.add_experiment(schedy.RandomSearch("pg-away", {"x": Uniform(0, 1)}, max_jobs=total, max_retries=2))
        hold, go = threading.Event(), threading.Event()
        failures: list[str] = []
        ended: list[schedy.Job] = []

        def worker() -> None:
            try:
                for job in exp.jobs(wait=0.5):
                    with job:
                        _train(job, hold if len(ended) == 2 else None, go)  # the third job reports into the outage
                    ended.append(job)
            except Exception as exc:  # what the user would see: the job CRASHED and the loop dying
                failures.append(repr(exc))

        with caplog.at_level(logging.WARNING, logger="schedy"):
            thread = threading.Thread(target=worker)
            thread.start()
            try:
                assert hold.wait(60)
                own_cluster.pause()
                go.set()  # its next report finds the service without its database
                time.sleep(5)
            finally:
                go.set()
                own_cluster.resume()
            thread.join(120)
        assert not thread.is_alive()
        assert failures == []
        assert [job.lost for job in ended] == [None] * total
        _check_every_job_done_once_with_its_reports(exp, total)
    said = [r.getMessage() for r in caplog.records if "The Schedy service is away" in r.getMessage()]
    assert any("report waits until it is back" in line for line in said), said


@pytest.mark.slow
def test_workers_with_the_default_settings_ride_out_a_22_s_postgresql_restart(
    own_cluster: PostgresCluster, service: ServiceProcess
) -> None:
    """The tester's case: default retries and heartbeat; a report and a hand-written claim meet the outage."""
    total = 8
    with schedy.SchedyDB(config_override=service.new_user().client_config) as db:
        exp = db.add_experiment(schedy.RandomSearch("pg-restart", {"x": Uniform(0, 1)}, max_jobs=total, max_retries=2))
        reporting, claiming, go = threading.Event(), threading.Event(), threading.Event()
        failures: list[str] = []
        ended: list[schedy.Job] = []

        def documented_loop() -> None:
            mine = 0
            try:
                for job in exp.jobs(wait=0.5):
                    with job:
                        _train(job, reporting if mine == 1 else None, go)  # its second job reports into the outage
                    mine += 1
                    ended.append(job)
            except Exception as exc:
                failures.append(f"exp.jobs() loop: {exc!r}")

        def hand_written_loop() -> None:  # examples/worker.py's form
            mine = 0
            try:
                while True:
                    if mine == 1:  # its second claim is made during the outage
                        claiming.set()
                        go.wait(120)
                    try:
                        job = exp.next_job()
                    except NoJobError:
                        return
                    with job:
                        _train(job)
                    mine += 1
                    ended.append(job)
            except Exception as exc:
                failures.append(f"next_job() loop: {exc!r}")

        threads = [threading.Thread(target=documented_loop), threading.Thread(target=hand_written_loop)]
        for thread in threads:
            thread.start()
        try:
            assert reporting.wait(60)
            assert claiming.wait(60)
            own_cluster.pause()
            go.set()
            time.sleep(22)  # longer than the 18 s the client used to give a service asking for a retry every 2 s
        finally:
            go.set()
            own_cluster.resume()
        for thread in threads:
            thread.join(180)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert [job.lost for job in ended] == [None] * total
        _check_every_job_done_once_with_its_reports(exp, total)
    assert "The database cannot be reached" in service.log()
