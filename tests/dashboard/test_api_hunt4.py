"""The dashboard API answers the page asks at the start of a search (hunt 4), on SQLite and PostgreSQL.

The importance of the declared objective before a job has finished is an empty answer, not a 422; a
hyperparameter no job used has is named. The jobs of Hyperband's bracket that never stops are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard import fill
from tests.dashboard.test_views_hunt4 import COND_SPACE, _hyperband_jobs

API = "dashboard/api/"


@pytest.fixture
def api(service: Any) -> Iterator[httpx.Client]:
    http = fill.client(service.user)
    yield http
    http.close()


def test_importance_of_the_declared_objective_before_any_job_finished_is_empty_not_an_error(api):
    asha = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3}}
    fill.put(api, fill.exp_path("early"), {"scheduler": {"RandomSearch": COND_SPACE}, "earlyStopping": asha})
    for _ in range(2):
        assert api.post(fill.exp_path("early") + "nextjob/", json={"heartbeat": 600}).status_code == 200
    for params in ({"objective": "loss", "direction": "min"}, {}):
        answer = api.get(API + "experiments/early/importance/", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["objective"], body["direction"], body["jobs"], body["done"]) == ("loss", "min", 0, 0)
        assert body["importances"] == []
    # Finished jobs that have other results only: the declared objective is still no error.
    done = {"status": "DONE", "hyperparameters": {"opt": "adam", "lr": 0.1, "x": 0.5}, "results": {"acc": 0.5}}
    assert api.post(fill.exp_path("early") + "jobs/", content=json.dumps(done)).status_code == 201
    answer = api.get(API + "experiments/early/importance/", params={"objective": "loss"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["jobs"], answer.json()["importances"]) == (0, [])
    # A name the search does not declare and no finished job has is still refused in one sentence.
    unknown = api.get(API + "experiments/early/importance/", params={"objective": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "No finished job of experiment 'early' has a result named 'nope'."


def test_importance_names_the_hyperparameters_no_job_used_has(api):
    fill.put(api, fill.exp_path("cond"), {"scheduler": {"RandomSearch": COND_SPACE}})
    for i in range(8):
        hp: dict[str, Any] = {"opt": "sgd", "momentum": 0.5} if i == 0 else {"opt": "adam"}
        hp |= {"lr": 10 ** (-3 + i / 4), "x": i / 8}
        loss = float("nan") if i == 0 else i / 8
        body = {"status": "DONE", "hyperparameters": hp, "results": {"loss": loss}}
        assert api.post(fill.exp_path("cond") + "jobs/", content=json.dumps(body)).status_code == 201
    body = api.get(API + "experiments/cond/importance/", params={"objective": "loss", "direction": "min"}).json()
    assert body["jobs"] == 7
    assert sorted(i["name"] for i in body["importances"]) == ["lr", "opt", "x"]
    assert body["unused"] == ["momentum"]


def test_the_brackets_answer_counts_the_jobs_of_hyperbands_bracket_that_never_stops(api):
    policy = {"hyperband": {"resultName": "loss", "objective": "min", "minStep": 1, "maxStep": 9, "reductionFactor": 3}}
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    fill.put(api, fill.exp_path("hb"), {"scheduler": {"RandomSearch": space}, "earlyStopping": policy})
    assert api.post(fill.exp_path("hb") + "nextjob/", json={"heartbeat": 600}).status_code == 200  # no report
    ids, top, never = _hyperband_jobs(api, "hb")
    answer = api.get(API + "experiments/hb/brackets/")
    assert answer.status_code == 200, answer.text
    brackets = answer.json()["brackets"]
    assert [b["bracket"] for b in brackets] == [0, 1, 2]
    assert [b["stops"] for b in brackets] == [True, True, False]
    assert brackets[top]["jobs"] == never
    assert sum(b["jobs"] for b in brackets) == len(ids)  # the jobs that reported, each once
    stopping = api.get(fill.exp_path("hb") + "stopping/").json()
    first = {r["bracket"]: r["jobs"] for r in reversed(stopping["rungs"])}  # each bracket's first rung
    assert [first.get(b, 0) for b in (0, 1)] == [brackets[0]["jobs"], brackets[1]["jobs"]]
    # Another policy, or none: nothing to count.
    fill.put(api, fill.exp_path("plain"), {"scheduler": {"RandomSearch": space}})
    assert api.get(API + "experiments/plain/brackets/").json() == {"brackets": []}
    assert api.get(API + "experiments/nowhere/brackets/").status_code == 404
