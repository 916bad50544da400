"""The dashboard ranks by the objective ``best_job()``, ``schedy show``, ``watch`` and ``run`` rank by.

A search that declares no objective of its own (a random search) takes its early-stopping policy's
(docs/search.md), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import schedy
from schedy.random import Uniform
from schedy.stopping import ASHA
from tests.dashboard.test_api import cookie_login

API = "dashboard/api/"


def test_the_dashboard_ranks_by_the_early_stopping_policys_objective_as_best_job_does(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(
            schedy.RandomSearch("policy", {"x": Uniform(0, 1)}, early_stopping=ASHA("val_loss", "min", max_step=3))
        )
        for job in exp.jobs(max_jobs=6):
            with job:
                x = job.hyperparameters["x"]
                job.results["accuracy"] = 1 - x  # the first numeric result, a guess would take it
                job.results["val_loss"] = 10 * x
        assert exp.declared_objective() == ("val_loss", "min")
        best = exp.best_job()
        assert best is not None
        browser, _ = cookie_login(service)
        try:
            [item] = browser.get(API + "experiments/").json()["items"]
            assert item["objective"] == {"name": "val_loss", "direction": "min", "declared": True}
            assert item["best"] == {"job": best.job_id, "value": best.results["val_loss"]}
            table = browser.get(API + "experiments/policy/jobs/").json()
            assert table["objective"] == {"name": "val_loss", "direction": "min", "declared": True}
            importance = browser.get(API + "experiments/policy/importance/").json()
            assert (importance["objective"], importance["direction"]) == ("val_loss", "min")

            # `schedy set --early-stopping asha:accuracy:max`: the page follows at once, as best_job() does.
            exp.early_stopping = ASHA("accuracy", "max", max_step=3)
            exp.push_updates()
            best = exp.best_job()
            assert best is not None
            [item] = browser.get(API + "experiments/").json()["items"]
            assert item["objective"] == {"name": "accuracy", "direction": "max", "declared": True}
            assert item["best"] == {"job": best.job_id, "value": best.results["accuracy"]}
        finally:
            browser.close()


def test_the_searchs_own_objective_comes_before_its_policys(service) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        tpe = schedy.TPESearch(
            "own", {"x": Uniform(0, 1)}, "max", "accuracy", early_stopping=ASHA("val_loss", "min", max_step=3)
        )
        exp = db.add_experiment(tpe)
        for job in exp.jobs(max_jobs=3):
            with job:
                job.results["val_loss"] = job.hyperparameters["x"]
                job.results["accuracy"] = 1 - job.hyperparameters["x"]
        assert exp.declared_objective() == ("accuracy", "max")
        browser, _ = cookie_login(service)
        try:
            [item] = browser.get(API + "experiments/").json()["items"]
            assert item["objective"] == {"name": "accuracy", "direction": "max", "declared": True}
        finally:
            browser.close()


def test_a_policy_result_the_finished_jobs_lack_leaves_the_first_numeric_result(service) -> None:
    # A policy judges reports, which the final results may name otherwise: no empty ranking then.
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(schedy.ManualSearch("reports", early_stopping=ASHA("val_acc", "max")))
        exp.add_job(hyperparameters={"x": 1}, status="DONE", results={"test_acc": 0.9})
        browser, _ = cookie_login(service)
        try:
            [item] = browser.get(API + "experiments/").json()["items"]
            assert item["objective"] == {"name": "test_acc", "direction": "max", "declared": False}
            assert item["best"]["value"] == 0.9
        finally:
            browser.close()
