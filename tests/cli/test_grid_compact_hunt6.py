"""``schedy add NAME grid a integer 1 1000000``: a grid of the documented size is created, and ``show`` stays short.

Through the real service (SQLite and PostgreSQL): the range is sent as its distribution, not as a megabyte of
values; ``show`` and ``list`` print a grid's long list of values cut short, with how many there are.
"""

from __future__ import annotations

import schedy
from schedy.random import Integer


def _claims(db: schedy.SchedyDB, name: str, count: int) -> list[int]:
    exp = db.get_experiment(name)
    handed = []
    for _ in range(count):
        with exp.next_job() as job:
            handed.append(job.hyperparameters["a"])
    return handed


def test_schedy_add_creates_a_million_value_integer_grid_and_show_prints_it_short(cli):
    cli.ok("add", "g1m", "grid", "a", "integer", "1", "1000000")
    cli.ok("add", "g1m-wire", "grid", "a", '{"integer": {"low": 1, "high": 1000000}}')
    with cli.db() as db:
        for name in ("g1m", "g1m-wire"):
            exp = db.get_experiment(name)
            assert isinstance(exp, schedy.GridSearch)
            assert exp.grid["a"] == Integer(1, 1_000_000)
            answer = db._transport.request("GET", f"experiments/{name}/", expect=(200,))
            assert len(answer.data) < 2000
        handed = _claims(db, "g1m", 8)
        assert len(set(handed)) == 8
        assert all(1 <= a <= 1_000_000 for a in handed)

    shown = cli.ok("show", "g1m")
    assert len(shown) < 2000, f"schedy show printed {len(shown)} characters"
    lines = shown.splitlines()
    assert "cells: 1000000" in lines
    assert 'a: integer ({"low": 1, "high": 1000000}) (1,000,000 values)' in lines
    assert "cells: 1000000" in cli.ok("show", "g1m-wire").splitlines()


def test_show_and_list_cut_a_long_stored_list_of_values_short(cli):
    with cli.db() as db:  # as the previous client stored Integer(1, 50000): the list of its values
        db._transport.request(
            "PUT",
            "experiments/listed/",
            {"status": "RUNNING", "scheduler": {"GridSearch": {"a": list(range(1, 50_001)), "b": ["x", "y"]}}},
            expect=(201,),
        )
        assert len(set(_claims(db, "listed", 5))) == 5
    shown = cli.ok("show", "listed")
    assert len(shown) < 2000, f"schedy show printed {len(shown)} characters"
    lines = shown.splitlines()
    assert "a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …] (50,000 values)" in lines
    assert 'b: ["x", "y"]' in lines
    assert "cells: 100000" in lines
    listed = cli.ok("list", "-p")
    assert len(listed) < 2000
    assert "a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …] (50,000 values)" in listed.splitlines()
