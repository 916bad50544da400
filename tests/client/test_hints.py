"""A worker that names the objective otherwise than its search is told so (real service, SQLite and PostgreSQL).

The service keeps such jobs (ranked worst), so nothing fails; without these
warnings a TPE search silently learns nothing and a policy judges reports on
nothing they measured.
"""

from __future__ import annotations

import logging

import pytest

import schedy
from schedy import errors
from schedy.random import Uniform
from schedy.stopping import ASHA, Median

SPACE = {"x": Uniform(0, 1)}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "schedy" and r.levelno == logging.WARNING]


def _lone_member(db: schedy.SchedyDB, name: str, result: str, *, generations: int) -> schedy.Experiment:
    """A PBT population of one member maximising ``result``: each job continues the one before it."""
    return db.add_experiment(
        schedy.PopulationBasedTraining(
            name,
            schedy.MAXIMIZE,
            result,
            schedy.pbt.Truncate(0.5),
            explore={"lr": schedy.pbt.Perturb()},
            initial_distributions={"lr": Uniform(0, 1)},
            population_size=1,
            max_generations=generations,
        )
    )


def test_a_tpe_job_done_without_the_searchs_result_is_warned_once_and_kept(db, caplog):
    exp = schedy.TPESearch("typo", SPACE, schedy.MINIMIZE, "loss")
    db.add_experiment(exp)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for _ in range(3):
            with exp.next_job() as job:
                job.results["val_loss"] = job.hyperparameters["x"]
    [warning] = _warnings(caplog)
    assert "without a result named 'loss', the one its TPESearch minimises" in warning
    assert "(its results: 'val_loss'): name the result 'loss'" in warning
    # Nothing is lost: the jobs ended DONE with what they had.
    jobs = exp.all_jobs()
    assert [(j.status, "val_loss" in j.results) for j in jobs] == [("DONE", True)] * 3


def test_a_result_sent_as_text_is_warned(db, caplog):
    exp = schedy.TPESearch("text", SPACE, schedy.MAXIMIZE, "accuracy")
    db.add_experiment(exp)
    with caplog.at_level(logging.WARNING, logger="schedy"), exp.next_job() as job:
        job.results["accuracy"] = f"{0.91:.3f}"
    [warning] = _warnings(caplog)
    assert "with 'accuracy' = '0.910', a str, not a number" in warning
    assert "maximises" in warning


def test_a_report_without_the_policys_metric_is_warned_once(db, caplog):
    exp = schedy.RandomSearch("reports", SPACE, early_stopping=Median("loss", "min"))
    db.add_experiment(exp)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for _ in range(2):
            with exp.next_job() as job:
                for step in range(3):
                    job.report(step, val_loss=1.0 / (step + 1), lr=0.1)
    [warning] = _warnings(caplog)
    assert "reported no 'loss', the metric its early-stopping policy (Median) judges by" in warning
    assert "(this one has: 'val_loss', 'lr'): report it as 'loss'" in warning
    # A random search has no objective of its own: its results are not checked.
    assert "result named" not in warning


def test_reports_sent_together_are_checked_too(db, caplog):
    exp = schedy.RandomSearch("batched", SPACE, early_stopping=ASHA("acc", "max"))
    db.add_experiment(exp)
    with caplog.at_level(logging.WARNING, logger="schedy"), exp.next_job() as job:
        with job.buffered_reports(every=60) as reports:
            reports.report(0, acc=0.5)
            reports.report(1, accuracy=0.6)
        job.report_many([(2, {"accuracy": 0.7})])  # said once already
    [warning] = _warnings(caplog)
    assert "reported no 'acc', the metric its early-stopping policy (ASHA) judges by" in warning
    assert "(this one has: 'accuracy')" in warning


def test_the_names_the_search_uses_say_nothing(db, caplog):
    exp = schedy.TPESearch("right", SPACE, "min", "loss", early_stopping=ASHA("loss", "min"))
    db.add_experiment(exp)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for _ in range(2):
            with exp.next_job() as job:
                job.report(1, loss=0.5, other=1.0)
                job.results["loss"] = None  # no value, said on purpose
        with pytest.raises(ZeroDivisionError), exp.next_job() as job:
            raise ZeroDivisionError  # a CRASHED job has no result to check
        with exp.next_job() as job:
            raise errors.JobPruned()
    assert _warnings(caplog) == []


def test_a_job_that_only_reports_the_objective_ends_with_its_last_report_as_the_result(db, caplog):
    exp = db.add_experiment(schedy.TPESearch("reported", SPACE, "min", "loss"))
    with caplog.at_level(logging.WARNING, logger="schedy"):
        with exp.next_job() as only_reported:  # the habit Ray Tune teaches: the last report is the result
            for step, loss in enumerate((0.9, 0.5, 0.3)):
                only_reported.report(step, loss=loss, acc=1 - loss)
        with exp.next_job() as both:
            both.report(1, loss=0.2)
            both.results["loss"] = 1.0  # what the worker sets wins
    assert exp.get_job(only_reported.job_id).results == {"loss": 0.3}  # only the objective: acc stays a report
    assert exp.get_job(both.job_id).results == {"loss": 1.0}
    assert _warnings(caplog) == []


def test_a_pruned_job_that_only_reported_keeps_its_last_value_for_the_search_to_rank(db):
    stopping = ASHA("loss", "min", reduction_factor=2)
    exp = db.add_experiment(schedy.RandomSearch("pruned", SPACE, early_stopping=stopping))
    with exp.next_job() as good:
        good.report(1, loss=0.1)
    with exp.next_job() as bad:
        if bad.report(1, loss=5.0):
            raise errors.JobPruned()
    assert exp.get_job(bad.job_id).status == "PRUNED"
    assert exp.get_job(bad.job_id).results == {"loss": 5.0}
    assert exp.get_job(good.job_id).results == {"loss": 0.1}


def test_a_pbt_job_that_only_reports_is_ranked_by_its_own_report_not_its_parents_result(db):
    exp = _lone_member(db, "pbt", "accuracy", generations=3)
    with exp.next_job() as first:
        first.results.update(accuracy=0.5, step=1)
    with exp.next_job() as second:  # continues the first: starts with its results
        assert (second.parent, second.results) == (first.job_id, {"accuracy": 0.5, "step": 1})
        second.report(1, accuracy=0.7)  # and never sets accuracy itself
    with exp.next_job() as third:
        assert third.parent == second.job_id
        third.report(1, accuracy=0.9)
        third.results["accuracy"] = 0.8  # set by the worker: kept, even if the same as inherited or reported
    assert exp.get_job(second.job_id).results == {"accuracy": 0.7, "step": 1}
    assert exp.get_job(third.job_id).results == {"accuracy": 0.8, "step": 1}


def test_a_pbt_job_ending_with_its_parents_score_untouched_is_warned(db, caplog):
    exp = _lone_member(db, "stale", "accuracy", generations=4)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        with exp.next_job() as first:
            first.results["accuracy"] = 0.5
        assert _warnings(caplog) == []
        for _ in range(2):
            with exp.next_job() as later:  # trains, but forgets to score the interval
                later.results["epochs"] = 3
    [warning] = _warnings(caplog)
    assert "ended DONE with 'accuracy' still the value it started with (0.5, its parent's)" in warning
    assert "the result its PopulationBasedTraining maximises ranks it by a score it did not earn" in warning


def test_a_pbt_job_setting_the_same_integer_score_as_its_parent_is_not_warned(db, caplog):
    exp = _lone_member(db, "wins", "wins", generations=2)
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for _ in range(2):
            with exp.next_job() as job:
                job.results["wins"] = 3  # the same small integer object as the parent's, set anew
    assert _warnings(caplog) == []
