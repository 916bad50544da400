"""XGBoost and LightGBM callbacks with the real libraries against the real service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import schedy
from schedy.integrations import load_checkpoint
from tests.integrations.conftest import framework, next_job

xgb = framework("xgboost")
lgb = framework("lightgbm")


def _binary(digits: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    x, y = digits
    y = (y >= 5).astype("float32")
    return x[:1200], y[:1200], x[1200:], y[1200:]


# -- XGBoost -------------------------------------------------------------------------


def _xgb_train(job: schedy.Job, digits, rounds: int, **callback_options):  # type: ignore[no-untyped-def]
    from schedy.integrations.xgboost import SchedyCallback

    x, y, vx, vy = _binary(digits)
    dtrain, dvalid = xgb.DMatrix(x, label=y), xgb.DMatrix(vx, label=vy)
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3, "eta": 0.3, "nthread": 1}
    callback = SchedyCallback(job, "validation-logloss", **callback_options)
    return xgb.train(params, dtrain, rounds, evals=[(dvalid, "validation")], callbacks=[callback], verbose_eval=False)


def test_xgboost_reports_every_round_and_checkpoints(experiment, digits, tmp_path: Path) -> None:
    exp = experiment("validation-logloss")
    job = next_job(exp)
    with job:
        booster = _xgb_train(job, digits, 8, checkpoint="model.json", checkpoint_every=4)
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    reports = job.reports()
    assert [r["step"] for r in reports] == list(range(8))
    assert job.results["validation-logloss"] == pytest.approx(reports[-1]["metrics"]["validation-logloss"])
    assert reports[-1]["metrics"]["validation-logloss"] < reports[0]["metrics"]["validation-logloss"]
    path = load_checkpoint(job, "model.json", tmp_path / "model.json")
    assert path is not None
    back = xgb.Booster(model_file=str(path))
    assert back.num_boosted_rounds() == 8
    _, _, vx, _ = _binary(digits)
    np.testing.assert_allclose(back.predict(xgb.DMatrix(vx)), booster.predict(xgb.DMatrix(vx)), rtol=1e-6)
    assert load_checkpoint(job, "other.json") is None


def test_xgboost_stops_when_told_and_the_job_ends_pruned(experiment, digits) -> None:
    exp = experiment("validation-logloss", prune=True)
    job = next_job(exp)
    with pytest.raises(schedy.errors.JobPruned) as raised:
        _xgb_train(job, digits, 50)
    # Where and why, in the policy's own words (the reason the service keeps on the job).
    assert str(raised.value).startswith("Pruned at step 1 (validation-logloss = ")
    assert job.stop_reason is not None
    assert str(raised.value).endswith(job.stop_reason)
    with job:
        raise raised.value
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.PRUNED
    assert [r["step"] for r in job.reports()] == [0, 1]


# -- LightGBM ------------------------------------------------------------------------


def _lgb_train(job: schedy.Job, digits, rounds: int, **callback_options):  # type: ignore[no-untyped-def]
    from schedy.integrations.lightgbm import schedy_callback

    x, y, vx, vy = _binary(digits)
    train = lgb.Dataset(x, label=y)
    valid = lgb.Dataset(vx, label=vy, reference=train)
    params = {"objective": "binary", "metric": "binary_logloss", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    return lgb.train(
        params,
        train,
        rounds,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[schedy_callback(job, "valid-binary_logloss", **callback_options)],
    )


def test_lightgbm_reports_every_round_and_checkpoints(experiment, digits, tmp_path: Path) -> None:
    exp = experiment("valid-binary_logloss")
    job = next_job(exp)
    with job:
        booster = _lgb_train(job, digits, 6, checkpoint="model.txt", checkpoint_every=3)
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    assert [r["step"] for r in job.reports()] == list(range(6))
    path = load_checkpoint(job, "model.txt", tmp_path / "model.txt")
    assert path is not None
    back = lgb.Booster(model_file=str(path))
    assert back.current_iteration() == 6
    _, _, vx, _ = _binary(digits)
    np.testing.assert_allclose(back.predict(vx), booster.predict(vx), rtol=1e-6)
    # Resume: training goes on from the checkpoint.
    x, y, _, _ = _binary(digits)
    resumed = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, label=y), 2, init_model=str(path))
    assert resumed.current_iteration() == 8


def test_lightgbm_stops_when_told_and_the_job_ends_pruned(experiment, digits) -> None:
    exp = experiment("valid-binary_logloss", prune=True)
    job = next_job(exp)
    with job:
        _lgb_train(job, digits, 50)
        pytest.fail("training went on after the service said stop")
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.PRUNED
    assert [r["step"] for r in job.reports()] == [0, 1]


def test_a_missing_metric_is_named(experiment, digits) -> None:
    from schedy.integrations.xgboost import SchedyCallback

    job = next_job(experiment("nothing"))
    x, y, vx, vy = _binary(digits)
    with pytest.raises(KeyError, match="validation-logloss"), job:
        xgb.train(
            {"eval_metric": "logloss"},
            xgb.DMatrix(x, label=y),
            2,
            evals=[(xgb.DMatrix(vx, label=vy), "validation")],
            callbacks=[SchedyCallback(job, "valid-error")],
            verbose_eval=False,
        )


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_report_every_gathers_the_rounds_and_the_jobs_end_sends_the_rest(experiment, digits, library) -> None:
    # Rounds of a few milliseconds, reports gathered for an hour: nothing is sent while training runs,
    # every round arrives when the job ends, in order.
    metric = "validation-logloss" if library == "xgboost" else "valid-binary_logloss"
    exp = experiment(metric)
    job = next_job(exp)
    with job:
        (_xgb_train if library == "xgboost" else _lgb_train)(job, digits, 30, report_every=3600)
        assert job.reports() == []
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    reports = job.reports()
    assert [r["step"] for r in reports] == list(range(30))
    assert job.results[metric] == pytest.approx(reports[-1]["metrics"][metric])


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_report_every_still_stops_a_hopeless_job(experiment, digits, library) -> None:
    # Sent every 20 ms: told to stop (from step 1 on) with the first send, some rounds later, long before
    # the 1,000th; every round reported until then is kept.
    metric = "validation-logloss" if library == "xgboost" else "valid-binary_logloss"
    exp = experiment(metric, prune=True)
    job = next_job(exp)
    with job:
        (_xgb_train if library == "xgboost" else _lgb_train)(job, digits, 1000, report_every=0.02)
        pytest.fail("training went on after the service said stop")
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.PRUNED
    steps = [r["step"] for r in job.reports()]
    assert steps == list(range(len(steps)))
    assert 2 <= len(steps) < 1000
    assert job.stop_reason is not None
    assert "At rung 1" in job.stop_reason


# -- resuming, xgb.cv, jobs that ended, one callback per job ---------------------------


def test_a_resumed_xgboost_run_counts_on_from_its_checkpoint_and_stops_at_its_total(experiment, digits) -> None:
    # The docs' resume: a run stopped after 6 of 10 rounds goes on from its checkpoint, reports rounds 6-9
    # (not 0-3 again) and ends with 10 rounds, the same as a run never stopped.
    from schedy.integrations.xgboost import SchedyCallback

    x, y, vx, vy = _binary(digits)
    dtrain, dvalid = xgb.DMatrix(x, label=y), xgb.DMatrix(vx, label=vy)
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3, "nthread": 1}
    exp = experiment("validation-logloss")
    job = next_job(exp)

    def train(total: int) -> xgb.Booster:
        resume = load_checkpoint(job, "model.json")
        booster = None if resume is None else xgb.Booster(model_file=resume)
        done = 0 if booster is None else booster.num_boosted_rounds()
        callback = SchedyCallback(job, "validation-logloss", checkpoint="model.json", checkpoint_every=3)
        return xgb.train(
            params, dtrain, total - done, evals=[(dvalid, "validation")], xgb_model=booster, callbacks=[callback]
        )

    with job:
        assert train(6).num_boosted_rounds() == 6  # a first attempt: nothing to resume from
        assert train(10).num_boosted_rounds() == 10
    assert [r["step"] for r in job.reports()] == list(range(10))
    path = load_checkpoint(job, "model.json")
    assert path is not None
    assert xgb.Booster(model_file=path).num_boosted_rounds() == 9  # saved after rounds 2, 5, 8 (counting from 0)


def test_xgboost_cv_reports_the_mean_and_refuses_a_checkpoint_before_training(experiment, digits) -> None:
    from schedy.integrations.xgboost import SchedyCallback

    x, y, _, _ = _binary(digits)
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3, "nthread": 1}
    exp = experiment("test-logloss")
    job = next_job(exp)
    callback = SchedyCallback(job, "test-logloss", checkpoint="m.json", checkpoint_every=1)
    with pytest.raises(ValueError, match=r"checkpoint='m\.json' saves a booster, and xgb\.cv trains one per fold"), job:
        xgb.cv(params, xgb.DMatrix(x, label=y), 4, nfold=3, callbacks=[callback])
    assert job.reports() == []  # refused before the first round
    assert job.artifacts() == []
    job = next_job(exp)
    with job:
        history = xgb.cv(params, xgb.DMatrix(x, label=y), 4, nfold=3, callbacks=[SchedyCallback(job, "test-logloss")])
    reports = job.reports()
    assert [r["step"] for r in reports] == list(range(4))
    assert reports[-1]["metrics"]["test-logloss"] == pytest.approx(history["test-logloss-mean"].iloc[-1])


def test_a_callback_on_a_job_that_ended_says_so_and_changes_nothing(experiment, digits) -> None:
    exp = experiment("validation-logloss")
    job = next_job(exp)
    stale = exp.get_job(job.job_id)  # a copy fetched while it ran: it still says RUNNING
    with job:
        job.results["validation-logloss"] = 0.5
    with pytest.raises(
        ValueError, match=rf"Job {job.job_id} .* has already ended DONE, .* inside the job's `with job:`"
    ):
        _xgb_train(job, digits, 5)
    assert job.results == {"validation-logloss": 0.5}
    # The service refuses the stale copy's report: the training stops, and it is not called pruned.
    with pytest.raises(schedy.errors.JobPruned) as raised:
        _xgb_train(stale, digits, 5)
    assert str(raised.value).startswith(f"Stopped at step 0: job {job.job_id} is no longer this worker's")
    assert "DONE" in str(raised.value)
    assert "validation-logloss" not in stale.results
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    assert job.results == {"validation-logloss": 0.5}
    assert job.reports() == []


def test_a_callback_monitoring_another_metric_than_the_stopping_policy_is_refused(experiment) -> None:
    # Its reports would lack the policy's metric and rank worst: a second callback on another metric had the
    # best configuration stopped at the first rung.
    from schedy.integrations.lightgbm import schedy_callback
    from schedy.integrations.xgboost import SchedyCallback

    job = next_job(experiment("validation-logloss", prune=True))
    with pytest.raises(ValueError, match=r"judges jobs by 'validation-logloss'.*Monitor 'validation-logloss'"):
        SchedyCallback(job, "validation-error")
    with pytest.raises(ValueError, match="judges jobs by 'validation-logloss'"):
        schedy_callback(job, "valid-binary_logloss")
    SchedyCallback(job, "validation-logloss")
    SchedyCallback(next_job(experiment("validation-error")), "validation-error")  # no policy: any metric


def test_lightgbm_resumes_as_the_docs_say(experiment, digits) -> None:
    # init_model=load_checkpoint(...) as it is: None on a first attempt, a path afterwards; num_boost_round
    # reduced by the rounds the checkpoint has, so the run ends with its total and counts on.
    from schedy.integrations.lightgbm import schedy_callback

    x, y, vx, vy = _binary(digits)
    params = {"objective": "binary", "metric": "binary_logloss", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    exp = experiment("valid-binary_logloss")
    job = next_job(exp)

    def train(total: int) -> lgb.Booster:
        resume = load_checkpoint(job, "model.txt")
        done = 0 if resume is None else lgb.Booster(model_file=resume).current_iteration()
        train_set = lgb.Dataset(x, label=y)
        return lgb.train(
            params,
            train_set,
            num_boost_round=total - done,
            valid_sets=[lgb.Dataset(vx, label=vy, reference=train_set)],
            valid_names=["valid"],
            init_model=resume,
            callbacks=[schedy_callback(job, "valid-binary_logloss", checkpoint="model.txt", checkpoint_every=3)],
        )

    with job:
        assert train(6).current_iteration() == 6
        assert train(10).current_iteration() == 10
    assert [r["step"] for r in job.reports()] == list(range(10))
