"""Numbers past a float's range where the service computes with them: 422, never a 500 at the next claim.

JSON allows integers of any length and Python reads them exactly (up to
4300 digits), so ``1`` followed by 400 zeros arrives as an int that no
float, timestamp or database integer holds. Found by tests/fuzz/test_hostile_values.py.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import exp_path

HUGE = "1" + "0" * 400


@pytest.mark.parametrize("option", ["wait", "heartbeat"])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "1e308", "NaN", "Infinity"])
def test_nextjob_options_past_any_float_are_422_and_nothing_is_claimed(api, option, value):
    api.create_experiment("waits")
    job = api.add_job("waits", hyperparameters={"x": 1}).json()
    answer = api.request("POST", exp_path("waits") + "nextjob/", f'{{"{option}": {value}}}'.encode())
    assert answer.status_code == 422, answer.text
    assert f"Option '{option}' must be between" in answer.json()["detail"]
    assert api.http.get(exp_path("waits") + f"jobs/{job['id']}/").json()["status"] == "QUEUED"


@pytest.mark.parametrize("value", [HUGE, "1e308", "1000000001"])
def test_a_max_run_time_no_lease_can_last_is_422_and_nothing_is_written(api, value):
    body = f'{{"scheduler": {{"Manual": null}}, "maxRunTime": {value}}}'
    answer = api.request("PUT", exp_path("forever"), body.encode())
    assert answer.status_code == 422, answer.text
    assert "Option 'maxRunTime' must be a positive number of seconds up to 1000000000" in answer.json()["detail"]
    assert len(answer.json()["detail"]) < 200
    assert api.http.get(exp_path("forever")).status_code == 404


def test_the_longest_max_run_time_is_claimed_with_a_lease(api):
    """31 years is accepted, and a claim of its job carries a lease deadline (no overflow)."""
    api.create_experiment("long", maxRunTime=1e9)
    api.add_job("long", hyperparameters={"x": 1})
    claimed = api.request("POST", exp_path("long") + "nextjob/", {})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "RUNNING"


@pytest.mark.parametrize("where", ["results", "hyperparameters"])
def test_a_job_holding_an_integer_past_a_float_is_422_and_claims_go_on(api, where):
    """Stored, such a result broke every later claim of a TPE or PBT search (a 500 from the scheduler)."""
    space = {"x": {"uniform": {"low": 0, "high": 1}}}
    api.create_experiment("tpe-huge", {"TPESearch": {"distributions": space, "objective": "min", "resultName": "loss"}})
    body = f'{{"status": "DONE", "{where}": {{"x": 0.5, "loss": 1, "big": [1, {HUGE}]}}}}'
    answer = api.request("POST", exp_path("tpe-huge") + "jobs/", body.encode())
    assert answer.status_code == 422, answer.text
    assert f"{where}.big[1] is an integer of 401 digits, past a float's range" in answer.json()["detail"]
    assert api.all_jobs("tpe-huge") == []
    api.add_job("tpe-huge", hyperparameters={"x": 0.5}, results={"loss": 1.0}, status="DONE")
    claimed = api.request("POST", exp_path("tpe-huge") + "nextjob/", {})
    assert claimed.status_code == 200, claimed.text
