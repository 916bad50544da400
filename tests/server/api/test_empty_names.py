"""An empty hyperparameter or result name is refused with one sentence, by the service and by the client.

``schedy push m -p "" 1`` stored a hyperparameter named ``""``, later listed and exported as an empty
field (``schedy list`` named the fields ``id, status, x, acc, .``) that no search, plot or
``%{NAME}`` can name. Now the service answers 422 and stores nothing; the CLI refuses it before
sending (exit status 2), and a search definition with one is refused as the neighbouring checks are
(tests/cli/test_empty_names_cli.py).
"""

from __future__ import annotations

import pytest

from tests.server.conftest import exp_path


@pytest.mark.parametrize(("where", "sentence"), [
    ("hyperparameters", "Hyperparameter names must not be empty: name each hyperparameter (e.g. lr)."),
    ("results", "Result names must not be empty: name each result (e.g. loss)."),
])  # fmt: skip
def test_a_job_with_an_empty_name_is_422_and_nothing_is_stored(api, where, sentence):
    api.create_experiment("names")
    added = api.add_job("names", status="DONE", **{where: {"x": 1, "": 2}})
    assert added.status_code == 422, added.text
    assert added.json()["detail"] == sentence
    assert api.all_jobs("names") == []

    job = api.add_job("names", hyperparameters={"x": 1}).json()  # an update, too
    path = exp_path("names") + f"jobs/{job['id']}/"
    replaced = api.request("PUT", path, {"status": "DONE", "hyperparameters": {"x": 1}, where: {"": 3}})
    assert replaced.status_code == 422, replaced.text
    assert replaced.json()["detail"] == sentence
    stored = api.http.get(path).json()
    assert (stored["status"], stored["hyperparameters"], stored["results"]) == ("QUEUED", {"x": 1}, {})


def test_a_space_with_an_empty_name_is_422_and_no_experiment_is_made(api):
    for scheduler in (
        {"RandomSearch": {"": {"uniform": {"low": 0, "high": 1}}}},
        {"GridSearch": {"": [1, 2]}},
        {"TPESearch": {"distributions": {"": {"uniform": {"low": 0, "high": 1}}}, "objective": "min",
                       "resultName": "loss"}},
    ):  # fmt: skip
        answer = api.request("PUT", exp_path("unnamed"), {"scheduler": scheduler})
        assert answer.status_code == 422, answer.text
        assert "Hyperparameter names must not be empty" in answer.json()["detail"]
        assert api.http.get(exp_path("unnamed")).status_code == 404
