"""Definitions whose numbers outgrow a float once the service computes with them: 422 at once, or kept in range.

Each weight or value was finite, so the experiment was created; then every
claim failed (a 500), or a job was handed out with a hyperparameter its
worker's own update was refused for.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.server.conftest import Api, exp_path

HUGE_WEIGHTS = {"choice": {"values": [1, 2], "weights": [1e308, 1e308]}}


@pytest.mark.parametrize(
    "scheduler",
    [
        {"RandomSearch": {"lr": HUGE_WEIGHTS}},
        {"TPESearch": {"distributions": {"lr": HUGE_WEIGHTS}, "objective": "min", "resultName": "loss"}},
        {
            "PBT": {
                "objective": "min",
                "qualityResultName": "loss",
                "init": {"lr": HUGE_WEIGHTS},
                "explore": {"lr": {"perturb": {}}},
                "numParallel": 2,
            }
        },
    ],
    ids=["random", "tpe", "pbt"],
)
def test_choice_weights_summing_past_a_float_are_422_naming_them(api: Api, scheduler: dict[str, Any]) -> None:
    answer = api.request("PUT", exp_path("wsum"), {"status": "RUNNING", "scheduler": scheduler})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert "Hyperparameter 'lr'" in detail
    assert "weights that sum to at most 1.8e308" in detail
    assert "[1e+308, 1e+308]" in detail
    assert detail.count(". ") == 0  # one sentence
    assert api.http.get(exp_path("wsum")).status_code == 404


def test_choice_weights_with_a_finite_sum_are_claimed(api: Api) -> None:
    api.create_experiment("wmax", {"RandomSearch": {"lr": {"choice": {"values": [1, 2], "weights": [1e308, 7e307]}}}})
    for _ in range(3):
        claimed = api.http.get(exp_path("wmax") + "nextjob/")
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["hyperparameters"]["lr"] in (1, 2)


@pytest.mark.parametrize("x", ["1.7e308", "17" + "0" * 307], ids=["float", "integer"])
def test_pbt_explore_near_a_floats_edge_hands_out_jobs_their_workers_can_finish(api: Api, x: str) -> None:
    """A worker echoes its hyperparameters when it finishes (0.1.0b6 does): every update is taken."""
    body = (
        '{"status": "RUNNING", "scheduler": {"PBT": {"objective": "min", "qualityResultName": "loss", '
        f'"init": {{"x": {{"const": {x}}}}}, "numParallel": 2, "maxGenerations": 4, '
        '"explore": {"x": {"perturb": {"minFactor": 1.1, "maxFactor": 1.2}}}}}}'
    )
    assert api.request("PUT", exp_path("edge"), body).status_code == 201
    handed_out = []
    for i in range(8):  # 2 members × 4 generations at most
        claimed = api.http.get(exp_path("edge") + "nextjob/")
        if claimed.status_code == 204:  # every member reached maxGenerations
            break
        assert claimed.status_code == 200, claimed.text
        job = claimed.json()
        handed_out.append(job["hyperparameters"]["x"])
        done = json.dumps({"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"loss": float(i)}})
        finished = api.request(
            "PUT", exp_path("edge") + f"jobs/{job['id']}/", done, headers={"If-Match": claimed.headers["etag"]}
        )
        assert finished.status_code == 200, finished.text
    assert all(abs(value) <= sys.float_info.max for value in handed_out)
    assert {type(value) for value in handed_out} == {float if "e" in x else int}
    assert max(handed_out) > json.loads(x)  # explored, up to the edge
    assert api.http.get(exp_path("edge")).json()["status"] == "DONE"
