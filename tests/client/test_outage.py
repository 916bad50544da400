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
