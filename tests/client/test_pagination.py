"""Walking paginated lists."""

from __future__ import annotations

import pytest

import schedy
from schedy import errors
from schedy._pagination import parse_page
from tests.client.stub import Answer, Stub

EXP = {"name": "E", "status": "RUNNING", "scheduler": {"Manual": None}}


def job(i: int) -> dict[str, object]:
    return {"id": f"J{i}", "experiment": "E", "status": "DONE", "hyperparameters": {"i": i}, "results": {}}


def test_parse_page_returns_items_and_next() -> None:
    assert parse_page({"items": [1], "next": None}, "x/") == ([1], None)
    assert parse_page({"items": [], "next": "t"}, "x/") == ([], "t")


@pytest.mark.parametrize("page", [[], {"next": None}, {"items": {}, "next": None}, {"items": [], "next": 3}, None])
def test_parse_page_refuses_what_is_not_a_page(page: object) -> None:
    with pytest.raises(errors.UnhandledResponseError):
        parse_page(page, "x/")


def test_all_jobs_follows_next_tokens_lazily(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/E/", Answer(200, EXP))
    stub.on("GET", "experiments/E/jobs/?limit=1000", Answer(200, {"items": [job(1), job(2)], "next": "a/b+="}))
    stub.on("GET", "experiments/E/jobs/?limit=1000&start=a%2Fb%2B%3D", Answer(200, {"items": [job(3)], "next": None}))
    jobs = stub_db.get_experiment("E").all_jobs()
    first = next(jobs)
    assert first.job_id == "J1"
    assert first.etag is None  # lists carry no ETag
    assert len(stub.calls("GET", "experiments/E/jobs/?limit=1000&start=a%2Fb%2B%3D")) == 0
    assert [j.hyperparameters["i"] for j in jobs] == [2, 3]


def test_get_experiments_builds_the_right_classes(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    items = [
        EXP,
        {"name": "R", "status": "DONE", "scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}},
        {"name": "N", "status": "RUNNING", "scheduler": {"TPE": {"n": 3}}, "seed": 4},
    ]
    stub.on("GET", "experiments/?limit=1000", Answer(200, {"items": items, "next": None}))
    exps = list(stub_db.get_experiments())
    assert [type(e).__name__ for e in exps] == ["ManualSearch", "RandomSearch", "Experiment"]
    assert exps[1] == schedy.RandomSearch("R", {"x": schedy.random.Uniform(0, 1)}, status="DONE")
    assert exps[2]._to_wire() == {"seed": 4, "status": "RUNNING", "scheduler": {"TPE": {"n": 3}}}


def test_a_repeated_token_stops_with_an_error(stub: Stub, stub_db: schedy.SchedyDB) -> None:
    stub.on("GET", "experiments/?limit=1000", Answer(200, {"items": [EXP], "next": "t"}))
    stub.on("GET", "experiments/?limit=1000&start=t", Answer(200, {"items": [EXP], "next": "t"}))
    with pytest.raises(errors.UnhandledResponseError, match="same page token"):
        list(stub_db.get_experiments())
