"""The grid scheduler without a database: cells, order, retries, done."""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Any

import pytest

from schedy.errors import DefinitionError
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.grid import GridSearch, Permutation
from schedy.server.schedulers.registry import parse_scheduler

GRID = {"lr": [0.1, 0.01, 0.001], "layers": {"integer": {"low": 1, "high": 4}}, "act": ["relu", "tanh"]}


def view(i: int, hps: dict[str, Any], status: str = "DONE", attempt: int = 1) -> JobView:
    return JobView(f"j{i}", status, hps, {}, float(i), attempt=attempt)


def run(grid: GridSearch, seed: int | None, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Hand out and finish cells one at a time until the grid says DONE, like a single worker.

    Each decision gets an RNG of its own and the experiment's key, as the claim passes them.
    """
    jobs: list[JobView] = []
    for i in range(grid.size + 2):
        snapshot = Snapshot(tuple(jobs), options=MappingProxyType(options or {}), key=seed or 0)
        decision = grid.decide(snapshot, random.Random(f"{seed}:{i}"))
        if decision.experiment_done:
            return [j.hyperparameters for j in jobs]
        assert decision.job is not None
        jobs.append(view(len(jobs), decision.job.hyperparameters))
    pytest.fail("the grid never said DONE")


def test_every_cell_once_then_done():
    grid = GridSearch.from_params(GRID)
    # Stored as the distribution it was given as (a range is counted, not listed).
    assert grid.to_params()["layers"] == {"integer": {"low": 1, "high": 4}}
    assert grid.size == 24
    cells = run(grid, 0)
    assert len(cells) == 24
    assert len({tuple(sorted(c.items())) for c in cells}) == 24


def test_order_is_shuffled_and_keyed_by_the_experiment():
    grid = GridSearch.from_params(GRID)
    first, again, other = run(grid, 1), run(grid, 1), run(grid, 2)
    assert first == again
    assert first != other
    assert first != [grid.cell(i) for i in range(grid.size)]
    # The order is the experiment's (its key), whatever RNG a decision gets.
    handed = [grid.decide(Snapshot(key=1), random.Random(r)).job for r in range(5)]
    assert all(job is not None and job.hyperparameters == first[0] for job in handed)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100, 1000, 4097])
def test_permutation_is_a_bijection(size):
    perm = Permutation(size, key=12345)
    assert sorted(perm[i] for i in range(size)) == list(range(size))


def test_cells_are_found_from_the_jobs_hyperparameters():
    grid = GridSearch.from_params({"a": [1, 2], "b": [True, 1.5]})
    assert grid.cell_of({"a": 1.0, "b": True}) == grid.cell_of({"a": 1, "b": True})
    assert grid.cell_of({"a": True, "b": True}) is None  # a boolean is not the number 1
    assert grid.cell_of({"a": 3, "b": True}) is None
    assert grid.cell_of({"a": 1}) is None
    assert grid.cell_of({"a": [1], "b": True}) is None
    taken = (view(0, {"a": 1.0, "b": True}), view(1, {"a": 7, "b": True}))
    handed = grid.decide(Snapshot(taken), random.Random(0)).job
    assert handed is not None
    assert handed.hyperparameters != {"a": 1, "b": True}


def test_waits_for_running_cells_before_done():
    grid = GridSearch.from_params({"a": [1, 2]})
    jobs = (view(0, {"a": 1}), view(1, {"a": 2}, "RUNNING"))
    decision = grid.decide(Snapshot(jobs), random.Random(0))
    assert decision.job is None
    assert not decision.experiment_done
    done = (view(0, {"a": 1}), view(1, {"a": 2}, "PRUNED"))
    assert grid.decide(Snapshot(done), random.Random(0)).experiment_done


def test_a_crashed_cell_is_retried_per_max_retries():
    grid = GridSearch.from_params({"a": [1, 2]})
    jobs = (view(0, {"a": 1}), view(1, {"a": 2}, "CRASHED"))
    retry = grid.decide(Snapshot(jobs, options={"maxRetries": 1}), random.Random(0)).job
    assert retry is not None
    assert (retry.hyperparameters, retry.attempt) == ({"a": 2}, 2)
    # Without maxRetries, or once its attempts are spent, the cell is given up: done.
    assert grid.decide(Snapshot(jobs), random.Random(0)).experiment_done
    spent = (*jobs, view(2, {"a": 2}, "CRASHED", attempt=2))
    assert grid.decide(Snapshot(spent, options={"maxRetries": 1}), random.Random(0)).experiment_done


def test_a_retry_queued_by_the_lease_sweep_is_not_handed_out_again():
    grid = GridSearch.from_params({"a": [1, 2]})
    jobs = (view(0, {"a": 1}), view(1, {"a": 2}, "CRASHED"), view(2, {"a": 2}, "QUEUED", attempt=2))
    decision = grid.decide(Snapshot(jobs, options={"maxRetries": 1}), random.Random(0))
    assert decision.job is None
    assert not decision.experiment_done


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "needs an object mapping each hyperparameter"),
        ({"a": []}, "needs at least one value"),
        ({"a": [1, 1.0]}, "lists 1.0 twice"),
        ({"a": {"uniform": {"low": 0, "high": 1}}}, "'uniform' is continuous"),
        ({"a": {"loguniform": {"low": 1, "high": 2}}}, "'loguniform' is continuous"),
        ({"a": {"normal": {"mean": 0, "std": 1}}}, "'normal' is continuous"),
        ({"a": 3}, "must be a list of values"),
        ({"a": {"choice": {"values": [1], "branches": {"1": {"b": {"const": 1}}}}}}, "no conditional branches"),
        ({"a": list(range(10000)), "b": list(range(10000)), "c": list(range(10))}, "a grid may have at most"),
    ],
)
def test_bad_grids_are_refused_in_one_sentence(params, message):
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(")):
        parse_scheduler({"GridSearch": params})


def test_distributions_with_finitely_many_values_enumerate():
    grid = GridSearch.from_params(
        {"u": {"uniform": {"low": 0, "high": 1, "step": 0.5}}, "c": {"choice": {"values": ["x"]}}, "k": {"const": 3}}
    )
    assert grid.to_params() == {"u": {"uniform": {"low": 0.0, "high": 1.0, "step": 0.5}}, "c": ["x"], "k": [3]}
    assert grid.size == 3


def test_hand_added_jobs_need_the_grids_names():
    grid = GridSearch.from_params({"a": [1, 2]})
    grid.check_new_job({"a": 5})
    with pytest.raises(DefinitionError, match="missing 'a'"):
        grid.check_new_job({"b": 1})
