"""Reports sent together (``Job.report_many``, ``Job.buffered_reports``), real service, SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.stopping import ASHA
from schedy.testing import ServiceProcess

SPACE = {"x": Uniform(0, 1)}


class Requests:
    """Counts the report requests the client sends (the service is the real one)."""

    def __init__(self, db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[int] = []  # reports per request
        request = db._transport.request

        def counted(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
            if method == "POST" and path.endswith("/reports/"):
                self.sent.append(len(body["reports"]) if "reports" in body else 1)
            return request(method, path, body, **kwargs)

        monkeypatch.setattr(db._transport, "request", counted)


def _stopping(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    exp = schedy.RandomSearch(name, SPACE, early_stopping=ASHA("loss", "min", min_step=1, reduction_factor=2))
    db.add_experiment(exp)
    with exp.next_job() as best:  # the bar at rung 1 (and 2, 4): a loss of 0.1
        assert not best.report_many([(step, {"loss": 0.1}) for step in range(1, 6)])
    return exp


def test_report_many_sends_one_request_per_thousand_and_keeps_them_in_order(db, monkeypatch):
    exp = schedy.RandomSearch("many", SPACE)
    db.add_experiment(exp)
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job:
        series = [(step, {"loss": 1 / (step + 1), "acc": None}) for step in range(2500)]
        series[7] = (7, {"loss": math.nan})
        assert job.report_many(series) is False
        assert job.report_many([]) is False  # nothing to send: no request
    assert requests.sent == [1000, 1000, 500]
    reports = exp.get_job(job.job_id).reports()
    assert [r["step"] for r in reports] == list(range(2500))
    assert reports[1]["metrics"] == {"loss": 0.5, "acc": None}
    assert math.isnan(reports[7]["metrics"]["loss"])


def test_a_batch_that_falls_behind_at_a_rung_stops_the_job_which_ends_pruned(db, monkeypatch):
    exp = _stopping(db, "judged")
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job:
        # 0.05 at rung 1 (among the best), 0.9 at rung 2: told to stop at step 2, in the first request.
        batch = [(1, {"loss": 0.05}), (2, {"loss": 0.9}), (3, {"loss": 0.8})]
        stop = job.report_many(batch * 400)  # 1,200 reports: the second request is never sent
        assert stop is True
        assert "At rung 2" in (job.stop_reason or "")
        if stop:
            raise errors.JobPruned()
    assert requests.sent == [1000]
    back = exp.get_job(job.job_id)
    assert back.status == schedy.Job.PRUNED
    assert [r["step"] for r in back.reports()][:3] == [1, 2, 3]


def test_a_buffer_sends_at_most_every_so_often_and_on_closing(db, monkeypatch):
    exp = schedy.RandomSearch("buffered", SPACE)
    db.add_experiment(exp)
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job:
        with job.buffered_reports(every=0.5) as reports:
            start = time.monotonic()
            step = 0
            # Until 1.6 s have passed with reports kept (a send still in flight at 1.6 s would leave none).
            while time.monotonic() - start < 1.6 or not len(reports):
                assert reports.report(step, loss=1.0 / (step + 1)) is False
                step += 1
                time.sleep(0.002)
            kept = len(reports)
        # About three sends while the loop ran (one per half second), then the rest on closing.
        assert 2 <= len(requests.sent) - 1 <= 4, requests.sent
        assert requests.sent[-1] == kept
        assert sum(requests.sent) == step
        with job.buffered_reports(every=0) as each:  # 0: every report at once
            each.report(step, loss=0.0)
            assert len(each) == 0
        assert requests.sent[-1] == 1
    assert [r["step"] for r in exp.get_job(job.job_id).reports()] == list(range(step + 1))


def test_a_buffered_stop_is_answered_from_then_on_and_the_job_ends_pruned(db, monkeypatch):
    exp = _stopping(db, "buffered-stop")
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job, job.buffered_reports(every=3600) as reports:
        for step in range(1, 4):
            assert reports.report(step, loss=0.9) is False  # kept, not judged yet
        assert requests.sent == []
        assert reports.flush() is True  # told to stop at rung 1
        assert reports.report(4, loss=0.0) is True  # from then on, without sending
        assert len(reports) == 0
        raise errors.JobPruned()
    assert requests.sent == [3]
    back = exp.get_job(job.job_id)
    assert back.status == schedy.Job.PRUNED
    assert [r["step"] for r in back.reports()] == [1, 2, 3]


def test_reports_kept_when_the_training_raises_are_sent_and_the_job_ends_crashed(db):
    exp = schedy.RandomSearch("raised", SPACE)
    db.add_experiment(exp)
    seen: list[str] = []

    def train() -> None:
        with exp.next_job() as job, job.buffered_reports(every=3600) as reports:
            seen.append(job.job_id)
            reports.report(0, loss=2.0)
            reports.report(1, loss=1.0)
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        train()
    back = exp.get_job(seen[0])
    assert back.status == schedy.Job.CRASHED
    assert [r["metrics"]["loss"] for r in back.reports()] == [2.0, 1.0]


def test_bad_reports_are_refused_before_anything_is_sent(db, monkeypatch, caplog):
    exp = schedy.RandomSearch("bad-batch", SPACE)
    db.add_experiment(exp)
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job:
        with pytest.raises(ValueError, match="non-negative integer step"):
            job.report_many([(0, {"loss": 1.0}), (-1, {"loss": 1.0})])
        with pytest.raises(ValueError, match="Metric 'loss' must be a number, not str"):
            job.report_many([(0, {"loss": "0.5"})])
        with pytest.raises(ValueError, match="every must be a number of seconds >= 0"):
            job.buffered_reports(every=-1)
        with job.buffered_reports() as reports:
            with pytest.raises(ValueError, match="non-negative integer step"):
                reports.report(1.5, loss=1.0)  # type: ignore[arg-type]
            assert len(reports) == 0
    assert requests.sent == []
    assert exp.get_job(job.job_id).reports() == []
    # After the job's end, a batch is answered "stop" with a warning, as one report is.
    with caplog.at_level(logging.WARNING, logger="schedy"):
        assert job.report_many([(5, {"loss": 1.0})]) is True
    assert "has ended DONE" in caplog.text


def test_a_buffer_left_open_is_sent_when_the_job_ends(db, monkeypatch):
    # A framework callback holds a buffer with no `with` of its own: the job's end sends what it kept.
    exp = schedy.RandomSearch("left-open", SPACE)
    db.add_experiment(exp)
    requests = Requests(db, monkeypatch)
    with exp.next_job() as job:
        reports = job.buffered_reports(every=3600)
        for step in range(5):
            reports.report(step, loss=1.0 / (step + 1))
        job.results["loss"] = 0.2
        assert requests.sent == []
    assert requests.sent == [5]
    back = exp.get_job(job.job_id)
    assert (back.status, [r["step"] for r in back.reports()]) == ("DONE", [0, 1, 2, 3, 4])


def test_a_job_deleted_while_it_reports_is_told_to_stop_and_the_loop_goes_on(db, caplog):
    # As a heartbeat and the job's last update do: a report on a job deleted meanwhile (the dashboard's
    # Delete) answers "stop" with a warning instead of raising out of the training loop.
    exp = schedy.RandomSearch("deleted", SPACE)
    db.add_experiment(exp)
    seen: list[schedy.Job] = []
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for job in exp.jobs():
            seen.append(job)
            with job:
                if len(seen) == 1:
                    exp.get_job(job.job_id).delete()
                    assert job.report(1, loss=1.0) is True
                    assert job.report_many([(2, {"loss": 1.0})]) is True
                    raise errors.JobPruned()
                job.results["loss"] = 0.5
            if len(seen) == 2:
                break
    first, second = seen
    assert first.lost is not None
    assert "does not exist" in first.lost
    assert f"Job {first.job_id} of experiment 'deleted'" in caplog.text
    assert exp.get_job(second.job_id).status == schedy.Job.DONE  # the loop went on


def test_reports_a_buffer_cannot_send_at_the_end_are_logged_and_the_trainings_error_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The service gone when a failing job ends: the user sees their own error; the lost reports are named."""
    process = ServiceProcess.start(tmp_path / "home")
    try:
        config = process.new_user().client_config
        with schedy.SchedyDB(config_override=config, max_attempts=2, heartbeat=0) as db:
            exp = schedy.RandomSearch("gone", SPACE)
            db.add_experiment(exp)
            job = exp.next_job()
            caplog.set_level(logging.WARNING, logger="schedy")

            def train() -> None:
                with job:
                    buffer = job.buffered_reports(every=3600.0)
                    for step in range(3):
                        assert buffer.report(step, loss=1.0 / (step + 1)) is False  # kept: not a second yet
                    process.kill()
                    raise RuntimeError("out of memory")

            with pytest.raises(RuntimeError, match="out of memory"):
                train()
    finally:
        process.stop()
    lost = [r.getMessage() for r in caplog.records if "reports of job" in r.getMessage()]
    assert lost, caplog.text
    assert lost[0].startswith(f"The last 3 reports of job {job.job_id} were not sent: ")
