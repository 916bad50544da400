"""A worker outlives a service that goes away for longer than the client's retries (real service, both databases).

A service restarted for an upgrade, or moved, may be away for minutes; the
transport retries a request for about one. Before, a worker loop then died,
and a job ending meanwhile lost its results with it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

import schedy
from schedy import _outage
from schedy.random import Uniform
from schedy.testing import ServiceProcess


def test_a_worker_loop_and_a_job_ending_while_the_service_is_away_wait_for_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_outage, "OUTAGE_PAUSE", 0.5)  # try again every half second, not every 15 s
    home = tmp_path / "home"
    service = ServiceProcess.start(home, database_url)
    port, total = service.port, 6
    user = service.new_user()
    # Two tries per request (well under a second), so the outage outlasts the transport's own retries.
    db = schedy.SchedyDB(config_override=user.client_config, heartbeat=5, max_attempts=2)
    exp = db.add_experiment(schedy.RandomSearch("away", {"x": Uniform(0, 1)}, max_jobs=total))
    holding, go = threading.Event(), threading.Event()
    failures: list[str] = []
    ended: list[schedy.Job] = []

    def worker() -> None:
        try:
            for job in exp.jobs(wait=0.5):
                with job:
                    if len(ended) == 2:  # the third job ends while the service is away
                        holding.set()
                        go.wait(60)
                    job.results["y"] = job.hyperparameters["x"]
                ended.append(job)
        except Exception as exc:  # what the user would see: the loop dying
            failures.append(repr(exc))

    with caplog.at_level(logging.WARNING, logger="schedy"):
        thread = threading.Thread(target=worker)
        thread.start()
        try:
            assert holding.wait(60)
            service.stop()
            go.set()  # the job's last update and the next claim find no service
            time.sleep(3)
            service = ServiceProcess.start(home, database_url, port=port)
            thread.join(120)
        finally:
            go.set()
            service.stop()
    assert not thread.is_alive()
    assert failures == []
    assert [job.lost for job in ended] == [None] * total  # every result landed, the third's included
    # While it was away, the worker said so, once a minute at most, rather than dying.
    said = [r.getMessage() for r in caplog.records if "The Schedy service is away" in r.getMessage()]
    assert any("results are kept until it is back" in line for line in said), said
    db.close()


def test_a_refusal_is_not_waited_for(db: schedy.SchedyDB) -> None:
    """Only an outage is: an answer about the request itself (here, 404) is raised at once, as before."""
    exp = db.add_experiment(schedy.ManualSearch("refused"))
    exp.delete()
    loop = exp.jobs(wait=0.5)
    with pytest.raises(schedy.errors.ResourceNotFoundError):
        next(loop)


def test_a_worker_loop_waits_for_a_service_gone_between_an_empty_claim_and_its_next_look(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a claim finds no job, the loop asks whether the search is over: the service may be away by then."""
    monkeypatch.setattr(_outage, "OUTAGE_PAUSE", 0.5)
    home = tmp_path / "home"
    services = [ServiceProcess.start(home, database_url)]
    port = services[0].port
    db = schedy.SchedyDB(config_override=services[0].new_user().client_config, heartbeat=5, max_attempts=2)
    exp = db.add_experiment(schedy.ManualSearch("gap"))
    exp.add_job(hyperparameters={"x": 1})
    claim = exp.next_job

    def claim_then_vanish(**options: object) -> schedy.Job:
        try:
            return claim(**options)  # type: ignore[arg-type]
        except schedy.errors.NoJobError:
            if len(services) == 1:  # the first empty answer: the service stops right after sending it
                services[0].stop()
                threading.Timer(
                    2.0, lambda: services.append(ServiceProcess.start(home, database_url, port=port))
                ).start()
            raise

    monkeypatch.setattr(exp, "next_job", claim_then_vanish)
    try:
        done = []
        for job in exp.jobs(wait=0.2):
            with job:
                job.results["y"] = 1
            done.append(job.job_id)
    finally:
        deadline = time.monotonic() + 30
        while len(services) == 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        services[-1].stop()
        db.close()
    assert len(done) == 1  # and the loop ended as a manual search's does, with nothing left, not with an error
    assert len(services) == 2
