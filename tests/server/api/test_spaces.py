"""Integer, stepped and conditional spaces through the real service (random search and PBT)."""

from __future__ import annotations

import pytest

from tests.server.conftest import exp_path

SPACE = {
    "optimizer": {
        "choice": {
            "values": ["sgd", "adam"],
            "branches": {"sgd": {"momentum": {"uniform": {"low": 0, "high": 0.9, "step": 0.1}}}},
        }
    },
    "layers": {"integer": {"low": 1, "high": 4}},
    "width": {"integer": {"low": 16, "high": 256, "log": True}},
}


def test_random_search_samples_integer_stepped_and_conditional_spaces(api):
    api.create_experiment("cond", {"RandomSearch": SPACE})
    stored = api.http.get(exp_path("cond")).json()["scheduler"]["RandomSearch"]
    assert stored["layers"] == {"integer": {"low": 1, "high": 4}}
    assert stored["optimizer"]["choice"]["branches"]["sgd"]["momentum"]["uniform"]["step"] == 0.1
    jobs = [api.http.post(exp_path("cond") + "nextjob/").json()["hyperparameters"] for _ in range(40)]
    for hps in jobs:
        assert hps["layers"] in (1, 2, 3, 4)
        assert 16 <= hps["width"] <= 256
        assert isinstance(hps["width"], int)
        assert ("momentum" in hps) == (hps["optimizer"] == "sgd")
        if "momentum" in hps:
            assert round(hps["momentum"] * 10) == pytest.approx(hps["momentum"] * 10)
    assert {h["optimizer"] for h in jobs} == {"sgd", "adam"}


def test_jobs_added_by_hand_must_fit_the_branch_they_take(api):
    api.create_experiment("cond-add", {"RandomSearch": SPACE})
    ok = api.add_job("cond-add", hyperparameters={"optimizer": "adam", "layers": 1, "width": 16})
    assert ok.status_code == 201, ok.text
    bad = api.add_job("cond-add", hyperparameters={"optimizer": "sgd", "layers": 1, "width": 16})
    assert bad.status_code == 422
    assert "missing 'momentum'" in bad.text


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"n": {"integer": {"low": 1.5, "high": 3}}}, "must be an integer"),
        ({"n": {"integer": {"low": 0, "high": 3, "log": True}}}, "with log needs 0 < low"),
        ({"n": {"loguniform": {"low": -1, "high": 3}}}, "needs 0 < low"),
        (
            {"o": {"choice": {"values": ["sgd"], "branches": {"adam": {"b": {"const": 1}}}}}},
            "branch 'adam' naming no value of the choice",
        ),
    ],
)
def test_bad_spaces_are_422_with_one_sentence(api, space, message):
    answer = api.request(
        "PUT",
        exp_path("bad-space"),
        {"status": "RUNNING", "scheduler": {"RandomSearch": space}},
        headers={"If-None-Match": "*"},
    )
    assert answer.status_code == 422
    assert message in answer.text


def test_pbt_samples_a_conditional_init(api):
    params = {
        "objective": "max",
        "qualityResultName": "q",
        "explore": {"momentum": {"perturb": {}}},
        "init": SPACE,
        "numParallel": 8,
    }
    api.create_experiment("pbt-cond", {"PBT": params})
    jobs = [api.http.post(exp_path("pbt-cond") + "nextjob/").json()["hyperparameters"] for _ in range(8)]
    for hps in jobs:
        assert ("momentum" in hps) == (hps["optimizer"] == "sgd")
        assert isinstance(hps["layers"], int)
