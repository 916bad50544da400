"""A claimed job's lease is kept from the claim, not only inside ``with job:`` (real service, both databases).

Workers often set up between ``next_job()`` and ``with job:`` (load the data,
build the model from the hyperparameters). When that took longer than the
lease (three heartbeats: 90 s by default), the service ended the job CRASHED
and the worker trained on for nothing: its results were refused at the end.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import pytest

import schedy

INTERVAL = 0.4  # a lease of 1.2 s


def _status(exp: schedy.Experiment, job_id: str) -> str:
    return exp.get_job(job_id).status


def _heartbeats(db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The job ids the client sends heartbeats for, as they are sent (the service is the real one)."""
    sent: list[str] = []
    request = db._transport.request

    def counted(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if method == "POST" and path.endswith("/heartbeat/"):
            sent.append(path.rstrip("/").split("/")[-2])
        return request(method, path, body, **kwargs)

    monkeypatch.setattr(db._transport, "request", counted)
    return sent


def test_a_worker_setting_up_for_longer_than_a_lease_before_with_job_keeps_its_job(db, caplog):
    exp = db.add_experiment(schedy.ManualSearch("slow setup"))
    exp.add_job(hyperparameters={"lr": 0.1})
    job = exp.next_job(heartbeat=INTERVAL)
    time.sleep(3 * INTERVAL + 2.0)  # building the model: past the lease and the service's once-a-second sweep
    assert _status(exp, job.job_id) == "RUNNING"
    with caplog.at_level(logging.WARNING, logger="schedy"), job:
        job.results["loss"] = 0.25
    assert job.lost is None
    assert "lost its lease" not in caplog.text
    assert exp.get_job(job.job_id).results == {"loss": 0.25}
    assert _status(exp, job.job_id) == "DONE"


def test_a_job_dropped_without_being_finished_is_let_go(db):
    exp = db.add_experiment(schedy.ManualSearch("dropped"))
    exp.add_job(hyperparameters={"lr": 0.1})
    job = exp.next_job(heartbeat=INTERVAL)
    job_id = job.job_id
    del job  # e.g. `for job in exp.jobs(): if unwanted: continue`
    gc.collect()
    deadline = time.monotonic() + 30
    while _status(exp, job_id) == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    ended = exp.get_job(job_id)
    assert (ended.status, ended.end_reason) == ("CRASHED", "lease-expired")


def test_a_job_ended_without_with_job_stops_beating_quietly(db, monkeypatch, caplog):
    exp = db.add_experiment(schedy.ManualSearch("old style"))
    for lr in (0.1, 0.2):
        exp.add_job(hyperparameters={"lr": lr})
    beats = _heartbeats(db, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        # The 0.1.0b6 way: set the status and put(); and a claimed job deleted.
        done = exp.next_job(heartbeat=INTERVAL)
        deleted = exp.next_job(heartbeat=INTERVAL)
        time.sleep(2 * INTERVAL)
        assert {done.job_id, deleted.job_id} <= set(beats)  # both held meanwhile
        done.results["loss"] = 0.5
        done.status = schedy.Job.DONE
        done.put()
        deleted.delete()
        sent = len(beats)
        time.sleep(3 * INTERVAL)
    assert len(beats) == sent  # no beat for a job that is no longer RUNNING
    assert "lost its lease" not in caplog.text
    assert _status(exp, done.job_id) == "DONE"
