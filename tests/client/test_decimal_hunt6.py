"""A decimal.Decimal is a number in a job's results as in its reports (hunt6).

A report took ``Decimal("0.5")`` as 0.5, but the same value in ``job.results`` made the end of ``with job:`` raise
"cannot be sent to Schedy: use numbers…", after the whole training ran, and the job ended CRASHED without it.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

import schedy


def test_a_decimal_result_is_sent_as_the_float_it_equals(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.ManualSearch("decimal"))
    exp.add_job(hyperparameters={"lr": Decimal("0.125")})
    with exp.next_job() as job:
        job.report(0, acc=Decimal("0.5"))  # type: ignore[arg-type]  # taken at run time
        job.results["acc"] = Decimal("0.5")
        job.results["curve"] = [Decimal("0.25"), Decimal("1E+2"), Decimal("NaN")]
        job.results["count"] = Decimal(3)
    stored = exp.get_job(job.job_id)
    assert stored.status == schedy.Job.DONE
    assert stored.hyperparameters == {"lr": 0.125}
    assert stored.results["acc"] == 0.5
    assert stored.results["count"] == 3.0
    assert stored.results["curve"][:2] == [0.25, 100.0]
    assert math.isnan(stored.results["curve"][2])
    assert stored.reports()[0]["metrics"] == {"acc": 0.5}  # the same rule as a report's


def test_a_complex_result_is_still_refused(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.ManualSearch("complex"))
    exp.add_job(hyperparameters={})
    job = exp.next_job()
    job.results["acc"] = Decimal("0.5")
    job.results["z"] = 1 + 2j
    with pytest.raises(TypeError, match="Object of type complex cannot be sent to Schedy"):
        job.__exit__(None, None, None)  # what the end of `with job:` does
    stored = exp.get_job(job.job_id)
    assert stored.status == "CRASHED"
    assert stored.results == {"acc": 0.5}


def test_a_decimal_that_float_refuses_is_refused_with_a_sentence(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.ManualSearch("snan"))
    exp.add_job(hyperparameters={})
    job = exp.next_job()
    job.results["acc"] = Decimal("sNaN")
    with pytest.raises(TypeError, match=r"The number Decimal\('sNaN'\) \(Decimal\) cannot be sent to Schedy"):
        job.__exit__(None, None, None)
    assert exp.get_job(job.job_id).status == "CRASHED"
