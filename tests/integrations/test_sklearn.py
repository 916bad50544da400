"""scikit-learn: cross-validation reporting fold by fold, and SchedySearchCV, with the real library and service."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

import schedy
from schedy.random import Choice, LogUniform
from schedy.stopping import ASHA
from tests.integrations.conftest import framework

framework("sklearn")

from sklearn.linear_model import LogisticRegression  # noqa: E402 - after the framework check
from sklearn.model_selection import KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from schedy.integrations.sklearn import SchedySearchCV, cross_validate, cv_results  # noqa: E402


def _small(digits: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits
    return x[:600], y[:600]


def _model() -> Any:
    return LogisticRegression(max_iter=200)


def test_each_fold_is_reported_and_the_mean_is_the_result_scikit_learn_gives(db, digits) -> None:
    x, y = _small(digits)
    exp = db.add_experiment(schedy.ManualSearch("folds"))
    exp.add_job(hyperparameters={"C": 0.5})
    folds = KFold(4)
    with exp.next_job() as job:
        mean = cross_validate(job, _model(), x, y, cv=folds, scoring="accuracy")
    expected = cross_val_score(LogisticRegression(max_iter=200, C=0.5), x, y, cv=folds, scoring="accuracy")
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    assert mean == pytest.approx(expected.mean())
    assert job.results["score"] == pytest.approx(expected.mean())
    assert job.results["score_std"] == pytest.approx(expected.std())
    assert job.results["score_folds"] == pytest.approx(list(expected))
    reports = job.reports()
    assert [r["step"] for r in reports] == [1, 2, 3, 4]  # the folds scored so far
    running = [float(np.mean(expected[:k])) for k in range(1, 5)]
    assert [r["metrics"]["score"] for r in reports] == pytest.approx(running)


def test_a_hopeless_configuration_stops_after_its_first_fold_and_ends_pruned(db, digits) -> None:
    """ASHA (η = 2) has seen a strong configuration: a near-untrained one is told to stop at fold 1."""
    x, y = _small(digits)
    policy = ASHA("accuracy", "max", min_step=1, reduction_factor=2)
    exp = db.add_experiment(schedy.ManualSearch("prune-folds", early_stopping=policy))
    for c in (1.0, 1e-6):
        exp.add_job(hyperparameters={"C": c})
    ended = []
    for job in exp.jobs(max_jobs=2):  # the two added: a manual search would wait for more
        with job:
            cross_validate(job, _model(), x, y, cv=5, scoring="accuracy", result="accuracy")
        ended.append(exp.get_job(job.job_id))
    strong, weak = ended
    assert strong.status == schedy.Job.DONE
    assert len(strong.reports()) == 5
    assert weak.status == schedy.Job.PRUNED
    assert [r["step"] for r in weak.reports()] == [1]  # no fold fitted after the stop
    assert weak.results["accuracy"] < strong.results["accuracy"]
    assert len(weak.results["accuracy_folds"]) == 1
    # In scikit-learn's layout: the stopped job's unscored folds are NaN, and it ranks after the finished one.
    table = cv_results(exp, "accuracy")
    assert table["job_id"] == [strong.job_id, weak.job_id]
    assert table["status"] == ["DONE", "PRUNED"]
    assert table["param_C"] == [1.0, 1e-6]
    assert list(table["rank_test_score"]) == [1, 2]
    assert table["split0_test_score"][1] == pytest.approx(weak.results["accuracy"])
    assert all(np.isnan(table[f"split{k}_test_score"][1]) for k in range(1, 5))
    assert table["mean_test_score"] == pytest.approx([strong.results["accuracy"], weak.results["accuracy"]])


def test_pipeline_parameters_are_chosen_by_params_and_a_wrong_one_is_refused_in_a_sentence(db, digits) -> None:
    x, y = _small(digits)
    exp = db.add_experiment(schedy.ManualSearch("pipe"))
    exp.add_job(hyperparameters={"C": 2.0, "batch": 32})
    pipeline = make_pipeline(StandardScaler(), _model())
    with exp.next_job() as job:
        cross_validate(job, pipeline, x, y, cv=3, param_map={"C": "logisticregression__C"})
    assert exp.get_job(job.job_id).status == schedy.Job.DONE
    exp.add_job(hyperparameters={"C": 2.0})
    job = exp.next_job()
    with pytest.raises(ValueError, match=r"^Hyperparameter 'C' sets 'C'") as refused, job:
        cross_validate(job, pipeline, x, y, cv=3)
    assert str(refused.value).startswith(
        "Hyperparameter 'C' sets 'C', which Pipeline does not have (it has logisticregression, logisticregression__C"
    )
    assert "choose with param_map=" in str(refused.value)
    assert exp.get_job(job.job_id).status == schedy.Job.CRASHED


def test_a_search_minimising_a_score_is_refused_before_any_fit(db, digits) -> None:
    x, y = _small(digits)
    exp = db.add_experiment(schedy.TPESearch("wrong-way", {"C": LogUniform(1e-3, 10)}, "min", "neg_log_loss"))
    job = exp.next_job()
    with pytest.raises(ValueError, match="minimises 'neg_log_loss', but scikit-learn scores are greater-is-better"):
        cross_validate(job, _model(), x, y, scoring="neg_log_loss")
    assert job.reports() == []
    job.delete()


def test_search_cv_workers_share_one_search_and_each_refits_its_best(db, digits) -> None:
    """Two processes' worth of SchedySearchCV.fit on one TPE search: the budget is shared, the best is the search's."""
    x, y = _small(digits)
    space = {"C": LogUniform(1e-4, 10), "fit_intercept": Choice([True, False])}
    exp = db.add_experiment(
        schedy.TPESearch("cv", space, "max", "accuracy", max_jobs=8, n_startup_jobs=4, seed=1)
    )  # fmt: skip

    def worker(_: int) -> SchedySearchCV:
        return SchedySearchCV(_model(), db.get_experiment("cv"), cv=3, scoring="accuracy").fit(x, y)

    with ThreadPoolExecutor(2) as pool:
        fitted = list(pool.map(worker, range(2)))  # a worker's exception is raised here
    assert sum(search.n_jobs_run_ for search in fitted) == 8  # the search's budget, shared
    done = [j for j in exp.all_jobs() if j.status == schedy.Job.DONE]
    best = max(done, key=lambda j: j.results["accuracy"])
    for search in fitted:
        assert search.best_job_.job_id == best.job_id
        assert search.best_params_ == best.hyperparameters
        assert search.best_score_ == pytest.approx(best.results["accuracy"])
        assert search.best_estimator_.get_params()["C"] == best.hyperparameters["C"]
        assert search.score(x, y) == pytest.approx(float(np.mean(search.predict(x) == y)))
        assert search.predict_proba(x[:3]).shape == (3, 10)
    assert best.results["accuracy"] > 0.8  # the digits are easy: a search that works finds a good C
    frame = pd.DataFrame(fitted[0].cv_results_)  # as scikit-learn users read GridSearchCV's
    assert len(frame) == 8
    top = frame.loc[frame["rank_test_score"] == 1]
    assert list(top["job_id"]) == [best.job_id]
    assert list(top["params"]) == [best.hyperparameters]
    assert [top[f"split{k}_test_score"].item() for k in range(3)] == pytest.approx(best.results["accuracy_folds"])
    assert frame["mean_test_score"].max() == pytest.approx(best.results["accuracy"])


def test_several_scores_are_refused_in_a_sentence_before_any_fit(db, digits) -> None:
    x, y = _small(digits)
    exp = db.add_experiment(schedy.ManualSearch("many-scores"))
    exp.add_job(hyperparameters={"C": 1.0})
    job = exp.next_job()
    with pytest.raises(ValueError, match=r"give scoring one scorer \(a name or a callable\), not 2"):
        cross_validate(job, _model(), x, y, scoring=["accuracy", "f1_macro"])
    assert job.reports() == []
    job.delete()


def test_search_cv_refuses_a_loop_without_end(db) -> None:
    exp = db.add_experiment(schedy.RandomSearch("endless", {"C": LogUniform(1e-3, 10)}))
    with pytest.raises(ValueError, match="hands out jobs without end: give max_jobs= or max_time="):
        SchedySearchCV(_model(), exp).fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    assert list(exp.all_jobs()) == []


def test_search_cv_is_cloned_as_scikit_learn_clones_estimators(db, digits) -> None:
    """``sklearn.base.clone`` deep-copies parameters: the experiment's connection (threads, locks) is shared."""
    from sklearn.base import clone

    x, y = _small(digits)
    exp = db.add_experiment(schedy.RandomSearch("cloned", {"C": LogUniform(1e-2, 10)}, max_jobs=2))
    twin = clone(SchedySearchCV(_model(), exp, cv=2, scoring="accuracy"))
    assert twin.experiment == exp
    assert twin.experiment is not exp
    twin.fit(x, y)
    assert twin.n_jobs_run_ == 2
    assert [j.status for j in exp.all_jobs()] == [schedy.Job.DONE] * 2


def test_search_cv_with_worker_processes_shares_its_budget_between_them(db, digits) -> None:
    """``n_workers=2``: two joblib processes, each a worker of its own (its own pid), 5 jobs between them."""
    x, y = _small(digits)
    exp = db.add_experiment(schedy.RandomSearch("processes", {"C": LogUniform(1e-2, 10)}, seed=3))
    search = SchedySearchCV(_model(), exp, cv=2, scoring="accuracy", max_jobs=5, n_workers=2).fit(x, y)
    jobs = list(exp.all_jobs())
    assert search.n_jobs_run_ == 5
    assert [job.status for job in jobs] == [schedy.Job.DONE] * 5
    assert len({job.worker for job in jobs}) == 2  # two processes claimed, as themselves
    assert search.best_job_.job_id == max(jobs, key=lambda job: job.results["score"]).job_id  # no objective declared
    assert search.predict(x[:5]).shape == (5,)
