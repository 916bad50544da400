"""A report refused (by the client's checks or by the service) changes nothing: the job ends as if it were never made.

A job whose results lack its objective takes the objective's latest reported value; a refused report must not
be that value (it could not be sent as a result either: the job would end CRASHED).
"""

from __future__ import annotations

import pytest

import schedy
from schedy import errors
from schedy.stopping import Median

#: An integer of 401 digits: past a float's range, which the service refuses.
BIG = 10**400


def _experiment(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    exp = schedy.ManualSearch(name, early_stopping=Median("loss", "min"))
    db.add_experiment(exp)
    exp.add_job(hyperparameters={"a": 1})
    return exp


def test_a_report_past_a_floats_range_is_refused_and_the_job_still_ends_done_with_its_last_loss(db):
    exp = _experiment(db, "too-big-loss")
    job = next(exp.jobs(max_jobs=1))
    with job:
        assert job.report(1, loss=0.5) is False
        with pytest.raises(ValueError, match="past a float's range"):
            job.report(13, loss=BIG)
        with pytest.raises(ValueError, match="past a float's range"):
            job.report_many([(14, {"loss": 0.25}), (15, {"loss": BIG})])
    assert job.lost is None
    stored = exp.get_job(job.job_id)
    assert stored.status == schedy.Job.DONE
    assert stored.results == {"loss": 0.5}
    assert [(r["step"], r["metrics"]) for r in stored.reports()] == [(1, {"loss": 0.5})]


def test_a_buffered_report_past_a_floats_range_is_refused_at_once_and_not_sent_at_the_jobs_end(db):
    exp = _experiment(db, "too-big-buffered")
    job = next(exp.jobs(max_jobs=1))
    with job:
        reports = job.buffered_reports(every=60)  # sent when the job ends
        assert reports.report(1, loss=0.5) is False
        with pytest.raises(ValueError, match="Metric 'loss' is an integer of 401 digits, past a float's range"):
            reports.report(2, loss=BIG)
        assert len(reports) == 1  # only the report it took
    stored = exp.get_job(job.job_id)
    assert stored.status == schedy.Job.DONE
    assert stored.results == {"loss": 0.5}
    assert [(r["step"], r["metrics"]) for r in stored.reports()] == [(1, {"loss": 0.5})]


def test_a_report_the_service_refuses_is_not_the_jobs_last_loss(db):
    exp = _experiment(db, "refused-report")
    job = next(exp.jobs(max_jobs=1))
    too_long = {"x" * 1_100_000: 1.0}  # over the service's 1 MiB limit on a request
    with job:
        assert job.report(1, loss=0.5) is False
        with pytest.raises(errors.ClientRequestError) as refused:
            job.report(2, loss=0.1, **too_long)
        assert refused.value.code == 413
        with pytest.raises(errors.ClientRequestError):
            job.report_many([(3, {"loss": 0.2}), (4, {"loss": 0.3, **too_long})])
    stored = exp.get_job(job.job_id)
    assert stored.status == schedy.Job.DONE
    assert stored.results == {"loss": 0.5}  # the last loss the service took
    assert [r["step"] for r in stored.reports()] == [1]


def test_a_buffered_report_is_the_jobs_last_loss_once_checked(db):
    exp = _experiment(db, "buffered-loss")
    job = next(exp.jobs(max_jobs=1))
    with job:
        reports = job.buffered_reports(every=60)  # sent when the job ends
        assert reports.report(1, loss=0.5) is False
        assert reports.report(2, loss=0.25) is False
    stored = exp.get_job(job.job_id)
    assert stored.status == schedy.Job.DONE
    assert stored.results == {"loss": 0.25}
    assert [r["step"] for r in stored.reports()] == [1, 2]
