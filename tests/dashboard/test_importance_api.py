"""``GET /dashboard/api/experiments/NAME/importance/`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from tests.dashboard import fill
from tests.dashboard.test_api import cookie_login

API = "dashboard/api/"


@pytest.fixture
def api(service):
    http = fill.client(service.user)
    yield http
    http.close()


def test_importance_ranks_the_hyperparameter_the_loss_depends_on_and_is_kept_until_a_job_finishes(service, api):
    jobs = fill.random_search(api, "imp", 150)
    done = [j for j in jobs if j["status"] == "DONE"]
    finite = [j for j in done if math.isfinite(j["results"]["loss"])]
    browser, _ = cookie_login(service)
    try:
        answer = browser.get(API + "experiments/imp/importance/", params={"objective": "loss", "direction": "min"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["method"] == "PED-ANOVA"
        assert (body["objective"], body["direction"], body["sampled"]) == ("loss", "min", False)
        assert (body["done"], body["jobs"]) == (len(done), len(finite))  # NaN and Infinity left out
        names = [i["name"] for i in body["importances"]]
        assert names[0] == "lr"
        assert sorted(names) == ["dropout", "layers", "lr"]
        assert math.isclose(sum(i["importance"] for i in body["importances"]), 1.0)
        # Without parameters: the default objective (loss reads as a cost: minimised).
        default = browser.get(API + "experiments/imp/importance/").json()
        assert (default["objective"], default["direction"]) == ("loss", "min")
        assert default["importances"] == body["importances"]
        # A new finished job is counted at once (the kept answer is dropped).
        hp = {"lr": 0.003, "layers": 2, "dropout": 0.1}
        job = {"status": "DONE", "hyperparameters": hp, "results": {"loss": 0.2}}
        assert api.post(fill.exp_path("imp") + "jobs/", content=json.dumps(job)).status_code == 201
        again = browser.get(API + "experiments/imp/importance/", params={"objective": "loss"}).json()
        assert again["jobs"] == body["jobs"] + 1
    finally:
        browser.close()


def test_importance_refuses_an_unknown_result_or_direction_in_one_sentence_and_hides_others_experiments(service, api):
    fill.random_search(api, "imp2", 20)
    browser, _ = cookie_login(service)
    try:
        unknown = browser.get(API + "experiments/imp2/importance/", params={"objective": "nope"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == "No finished job of experiment 'imp2' has a result named 'nope'."
        wrong = browser.get(API + "experiments/imp2/importance/", params={"direction": "up"})
        assert wrong.status_code == 422
        assert "'min' or 'max'" in wrong.json()["detail"]
    finally:
        browser.close()
    other = fill.client(service.new_user())
    try:
        token = other.headers["Authorization"]
        theirs = httpx.get(service.url + API + "experiments/imp2/importance/", headers={"Authorization": token})
        assert theirs.status_code == 404
    finally:
        other.close()


def test_importance_of_a_big_experiment_reads_a_sample_and_still_finds_a_rare_result(service):
    """Above 20,000 DONE jobs about one in k is read; a result the sample misses is still found."""
    name = "imp-big"
    url = service.process.database_url
    fill.bulk(url, service.email, name, 45_000)
    # The only job with "rare":
    fill.add_done(url, service.email, name, 1, prefix="rare", results={"loss": 1.0, "rare": 2.0})
    browser, _ = cookie_login(service)
    try:
        body = browser.get(API + f"experiments/{name}/importance/", params={"objective": "loss"}).json()
        assert (body["sampled"], body["done"]) == (True, 45_001)
        assert 15_000 <= body["jobs"] <= 20_000
        assert body["importances"][0]["name"] == "lr"  # the loss depends on lr most
        rare = browser.get(API + f"experiments/{name}/importance/", params={"objective": "rare"})
        assert rare.status_code == 200, rare.text
        assert rare.json()["objective"] == "rare"  # found (one job: too few for an importance)
        missing = browser.get(API + f"experiments/{name}/importance/", params={"objective": "nope"})
        assert missing.status_code == 422
        assert missing.json()["detail"] == f"No finished job of experiment '{name}' has a result named 'nope'."
    finally:
        browser.close()
