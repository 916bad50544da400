"""An exception (Ctrl-C) inside ``with job:`` while the service is away reaches the caller at once (real service).

Before, the CRASHED update, and the reports a buffer still held, were each retried for the transport's
minute: a Ctrl-C took about 52 s to come back, and the log did not say what becomes of the job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

import schedy
from schedy.testing import ServiceProcess


def test_ctrl_c_inside_with_job_while_the_service_is_away_goes_on_at_once(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    service = ServiceProcess.start(home, database_url)
    port = service.port
    db = schedy.SchedyDB(config_override=service.new_user().client_config, heartbeat=2)
    exp = db.add_experiment(schedy.ManualSearch("interrupted"))
    exp.add_job(hyperparameters={"x": 1})
    job = exp.next_job()
    started = time.monotonic()

    def interrupted() -> None:
        nonlocal started
        with job, job.buffered_reports(every=60) as reports:
            reports.report(0, loss=1.0)  # kept, to be sent at the end
            service.stop()
            started = time.monotonic()
            raise KeyboardInterrupt  # Ctrl-C while the service is away

    try:
        with caplog.at_level(logging.WARNING, logger="schedy"), pytest.raises(KeyboardInterrupt):
            interrupted()
        took = time.monotonic() - started
        assert took < 3, f"the KeyboardInterrupt reached the caller after {took:.1f} s"
        said = " ".join(record.getMessage() for record in caplog.records)
        assert "were not sent" in said  # the buffered report, tried briefly
        assert f"Could not mark job {job.job_id} of 'interrupted' CRASHED: the Schedy service is away" in said
        assert "It stays RUNNING until its lease lapses" in said
        # The service back, the job is as the log said: RUNNING, for its lease to end it.
        service = ServiceProcess.start(home, database_url, port=port)
        assert exp.get_job(job.job_id).status == schedy.Job.RUNNING
    finally:
        service.stop()
        db.close()


def test_ctrl_c_with_the_service_up_still_ends_the_job_crashed(database_url: str, tmp_path: Path) -> None:
    """The normal path is unchanged: CRASHED, with its error, at once."""
    with ServiceProcess.start(tmp_path / "home", database_url) as service:
        db = schedy.SchedyDB(config_override=service.new_user().client_config, heartbeat=2)
        exp = db.add_experiment(schedy.ManualSearch("interrupted"))
        exp.add_job(hyperparameters={"x": 1})
        job = exp.next_job()

        def interrupted() -> None:
            with job, job.buffered_reports(every=60) as reports:
                reports.report(0, loss=1.0)
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            interrupted()
        ended = exp.get_job(job.job_id)
        assert (ended.status, (ended.error or {}).get("type")) == (schedy.Job.CRASHED, "KeyboardInterrupt")
        assert [report["step"] for report in ended.reports()] == [0]
        db.close()
