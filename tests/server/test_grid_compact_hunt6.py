"""A grid of the documented size (a million values of one hyperparameter) is sent, stored and served compactly.

Through the real service over HTTP, on SQLite and PostgreSQL: ``GridSearch(name, {"a": Integer(1, 10**6)})``
is created from Python, its definition stays a few bytes (``GET experiments/NAME/`` is small), claims hand
out distinct cells; a grid stored as lists (as the previous client sent it) runs unchanged; and a definition
over the body limit is refused with a sentence about experiment definitions, not about job artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import schedy
from schedy.errors import HTTPError, ResourceExistsError
from schedy.random import Integer, Uniform
from tests.server.conftest import exp_path


def _db(service: Any) -> schedy.SchedyDB:
    return schedy.SchedyDB(config_override=service.client_config, heartbeat=0)


def test_a_million_value_integer_grid_is_created_from_python_and_served_small(service, api):
    db = _db(service)
    db.add_experiment(schedy.GridSearch("grid-1m", {"a": Integer(1, 10**6)}))

    answer = api.http.get(exp_path("grid-1m"))
    assert answer.status_code == 200, answer.text
    assert len(answer.content) < 2000, f"GET experiments/NAME/ is {len(answer.content)} bytes"
    assert answer.json()["scheduler"] == {"GridSearch": {"a": {"integer": {"low": 1, "high": 1000000}}}}

    exp = db.get_experiment("grid-1m")
    assert isinstance(exp, schedy.GridSearch)
    assert exp.grid == {"a": Integer(1, 10**6)}
    handed = []
    for _ in range(12):
        claim = api.request("POST", exp_path("grid-1m") + "nextjob/", {"worker": "w"})
        assert claim.status_code == 200, claim.text
        handed.append(claim.json()["hyperparameters"]["a"])
    assert len(set(handed)) == 12
    assert all(isinstance(a, int) and 1 <= a <= 10**6 for a in handed)


def test_a_distribution_grid_hands_out_every_cell_once_with_hand_added_jobs_taking_theirs(service, api):
    db = _db(service)
    db.add_experiment(schedy.GridSearch("grid-dist", {"n": Integer(0, 8, step=2), "u": Uniform(0, 1, step=0.25)}))
    exp = db.get_experiment("grid-dist")
    exp.add_job(hyperparameters={"n": 4.0, "u": 0.5}, status=schedy.Job.DONE)  # 4.0 is the cell of 4
    exp.add_job(hyperparameters={"n": 3, "u": 0.5}, status=schedy.Job.DONE)  # off the step: no cell
    handed = []
    for job in exp.jobs():
        with job:
            handed.append((job.hyperparameters["n"], job.hyperparameters["u"]))
    expected = {(n, u) for n in (0, 2, 4, 6, 8) for u in (0.0, 0.25, 0.5, 0.75, 1.0)} - {(4, 0.5)}
    assert sorted(handed) == sorted(expected)
    assert db.get_experiment("grid-dist").status == "DONE"


def test_a_grid_stored_as_lists_by_the_previous_client_still_runs_unchanged(service, api):
    """The previous client listed an Integer's values; such a grid is stored, served and run as it was."""
    listed = {"a": list(range(1, 20_001)), "b": ["x", "y"]}
    api.create_experiment("grid-lists", {"GridSearch": listed})
    answer = api.http.get(exp_path("grid-lists"))
    assert answer.json()["scheduler"] == {"GridSearch": listed}
    db = _db(service)
    exp = db.get_experiment("grid-lists")
    assert isinstance(exp, schedy.GridSearch)
    assert exp.grid["a"] == listed["a"]
    handed = set()
    for _ in range(10):
        with exp.next_job() as job:
            handed.add((job.hyperparameters["a"], job.hyperparameters["b"]))
    assert len(handed) == 10

    small = {"lr": [0.1, 0.01], "opt": ["sgd", "adam"]}
    api.create_experiment("grid-small-lists", {"GridSearch": small})
    cells = []
    for job in db.get_experiment("grid-small-lists").jobs():
        with job:
            cells.append((job.hyperparameters["lr"], job.hyperparameters["opt"]))
    assert sorted(cells) == sorted((lr, opt) for lr in small["lr"] for opt in small["opt"])
    assert api.http.get(exp_path("grid-small-lists")).json()["scheduler"] == {"GridSearch": small}


def test_the_same_grid_script_is_accepted_again_with_exist_ok_whatever_form_it_was_stored_in(service, api):
    # Workers that all run `add_experiment(..., exist_ok=True)` on a grid the previous client stored as
    # lists: the same values, now sent as their distributions, are the same experiment.
    api.create_experiment("grid-old", {"GridSearch": {"a": [1, 2, 3, 4], "b": [0.0, 0.1, 0.2], "c": ["x"]}})
    db = _db(service)
    same = schedy.GridSearch("grid-old", {"a": Integer(1, 4), "b": Uniform(0, 0.2, step=0.1), "c": ["x"]})
    assert isinstance(db.add_experiment(same, exist_ok=True), schedy.GridSearch)
    with pytest.raises(ResourceExistsError, match=r"its search differs at a: \[1, 2, 3, 4\] there"):
        db.add_experiment(
            schedy.GridSearch("grid-old", {"a": Integer(1, 5), "b": [0.0, 0.1, 0.2], "c": ["x"]}), exist_ok=True
        )
    with pytest.raises(ResourceExistsError, match="its search differs at b"):
        db.add_experiment(
            schedy.GridSearch("grid-old", {"a": range(1, 5), "b": [0.0, 0.2, 0.1], "c": ["x"]}), exist_ok=True
        )
    # And the other way: a compact grid, a script listing the same values.
    db.add_experiment(schedy.GridSearch("grid-new", {"a": Integer(0, 1000, step=10)}))
    assert db.add_experiment(schedy.GridSearch("grid-new", {"a": list(range(0, 1001, 10))}), exist_ok=True)


def test_a_too_large_experiment_definition_is_refused_with_a_sentence_about_definitions(service, api):
    db = _db(service)
    with pytest.raises(HTTPError) as raised:  # a list of 300,000 values: over a megabyte
        db.add_experiment(schedy.GridSearch("grid-too-big", {"a": [i * 1.5 for i in range(300_000)]}))
    said = str(raised.value)
    assert "413" in said
    assert "an experiment's definition must fit in it" in said
    assert "distribution" in said
    assert "job.save_artifact" not in said

    body = json.dumps({"scheduler": {"GridSearch": {"a": list(range(400_000))}}}).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives, inside the route
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = api.http.put(exp_path("grid-streamed"), content=chunks())
    assert streamed.status_code == 413, streamed.text
    assert "an experiment's definition must fit in it" in streamed.text
    assert "job.save_artifact" not in streamed.text

    # A job's data still gets the hint about artifacts.
    api.create_experiment("grid-jobs", {"Manual": None})
    big_job = api.add_job("grid-jobs", hyperparameters={"blob": "x" * 1_100_000})
    assert big_job.status_code == 413
    assert "job.save_artifact" in big_job.text
