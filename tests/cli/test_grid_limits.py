"""A grid's size is bounded (``MAX_GRID_CELLS``) and refused before its values are listed: CLI, library, service."""

from __future__ import annotations

import time

import pytest

import schedy
from schedy import errors
from schedy._search import MAX_GRID_CELLS
from schedy.random import Integer, Uniform

_LIMIT = f"{MAX_GRID_CELLS:,}"


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["lr", "integer", "1", "100000000"],
         f"The grid of 'lr' has 100,000,000 values; a grid may have at most {_LIMIT} cells"),
        (["lr", "integer", "1", "1000000000000000"], "The grid of 'lr' has 1,000,000,000,000,000 values"),
        (["lr", '{"integer": {"low": 0, "high": 1e12}}'], "The grid of 'lr' has 1,000,000,000,001 values"),
        (["a", "integer", "1", "10000", "b", "integer", "1", "1000"],
         f"The grid has 10,000,000 cells (10,000 ('a') x 1,000 ('b')); a grid may have at most {_LIMIT}"),
    ],
)  # fmt: skip
def test_schedy_add_refuses_a_huge_grid_at_once_in_one_line(offline, words, said):
    started = time.monotonic()
    done = offline("add", "g", "grid", *words)
    assert time.monotonic() - started < 30  # not minutes of listing values (nor gigabytes)
    assert done.returncode == 2  # a definition checked before it is sent
    assert done.stderr.startswith(f"schedy: {said}"), done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_the_library_refuses_a_huge_grid_before_listing_it():
    for grid, said in [
        ({"lr": Integer(1, 10**12)}, "The grid of 'lr' has 1,000,000,000,000 values"),
        ({"lr": range(10**10)}, "The grid of 'lr' has 10,000,000,000 values"),
        ({"x": Uniform(0, 1, step=1e-8)}, "The grid of 'x' has 100,000,001 values"),
        ({"a": list(range(2000)), "b": Integer(1, 1000)}, "The grid has 2,000,000 cells"),
    ]:
        with pytest.raises(errors.DefinitionError) as refused:
            schedy.GridSearch("g", grid)
        assert str(refused.value).startswith(said)
    assert schedy.GridSearch("ok", {"a": Integer(1, 1000), "b": Integer(1, 1000)})._to_wire()  # at the limit


def test_the_service_refuses_a_huge_grid_with_a_sentence(cli):
    """A few bytes on the wire that would list a trillion values: a 422 and its sentence, at once."""
    with cli.db() as db:
        for grid, said in [
            ({"lr": {"integer": {"low": 1, "high": 10**12}}}, "The grid of 'lr' has 1,000,000,000,000 values"),
            ({"a": {"integer": {"low": 1, "high": 2000}}, "b": {"integer": {"low": 1, "high": 1000}}},
             "The grid has 2,000,000 cells"),
        ]:  # fmt: skip
            started = time.monotonic()
            with pytest.raises(errors.ClientRequestError) as refused:
                db._transport.request("PUT", "experiments/huge/", {"scheduler": {"GridSearch": grid}})
            assert time.monotonic() - started < 30
            assert refused.value.code == 422
            assert said in str(refused.value)
        db._transport.request(
            "PUT", "experiments/fits/", {"scheduler": {"GridSearch": {"a": [1, 2, 3]}}}, expect=(200, 201)
        )
        assert db.get_experiment("fits").status == "RUNNING"


def test_a_grid_stored_by_an_earlier_version_past_the_limit_still_runs():
    """Up to 10**8 cells were accepted before: such a stored grid keeps handing out its cells."""
    from schedy.server.schedulers.grid import GridSearch

    params = {"a": list(range(2000)), "b": list(range(1000))}
    with pytest.raises(errors.DefinitionError, match="The grid has 2,000,000 cells"):
        GridSearch.from_params(params)
    stored = GridSearch.from_stored(params)
    assert stored.size == 2_000_000
    assert stored.cell(stored.order(7)[0]).keys() == {"a", "b"}
