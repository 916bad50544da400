"""The TPE scheduler without a database: seeded, deterministic expectations on simple functions."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from typing import Any

import pytest

from schedy.errors import DefinitionError
from schedy.random import check_space
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.registry import parse_scheduler
from schedy.server.schedulers.tpe import TPE, gamma, weights

BRANIN = {"x1": {"uniform": {"low": -5, "high": 10}}, "x2": {"uniform": {"low": 0, "high": 15}}}


def branin(h: dict[str, Any]) -> float:
    x1, x2 = h["x1"], h["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10 - 0.397887


def make(space: dict[str, Any] = BRANIN, **options: Any) -> TPE:
    return TPE.from_params({"distributions": space, "objective": "min", "resultName": "y", **options})


def optimise(tpe: TPE, f, n: int, seed: int, batch: int = 1) -> list[JobView]:
    """n jobs in synchronous batches: each batch decided with the earlier ones of the batch RUNNING."""
    rng = random.Random(seed)
    jobs: list[JobView] = []
    while len(jobs) < n:
        pending: list[JobView] = []
        for _ in range(batch):
            job = tpe.decide(Snapshot((*jobs, *pending), key=seed), rng).job
            assert job is not None
            pending.append(JobView(f"j{len(jobs) + len(pending)}", "RUNNING", job.hyperparameters, {}, 0.0))
        jobs += [JobView(p.id, "DONE", p.hyperparameters, {"y": f(p.hyperparameters)}, 0.0) for p in pending]
    return jobs


def best(jobs: list[JobView]) -> float:
    return min(j.results["y"] for j in jobs)


def test_gamma_and_weights_are_optunas():
    assert [gamma(n) for n in (1, 10, 11, 100, 1000)] == [1, 1, 2, 10, 25]
    assert list(weights(3)) == [1, 1, 1]
    w = weights(30)
    assert len(w) == 30
    assert w[0] == pytest.approx(1 / 30)
    assert list(w[-25:]) == [1] * 25


def test_beats_random_search_on_branin_sequentially_and_in_batches():
    tpe, rand = make(), make(startup="random", nStartupJobs=1000)
    for batch in (1, 8):
        ours = statistics.median(best(optimise(tpe, branin, 80, seed, batch)) for seed in range(5))
        theirs = statistics.median(best(optimise(rand, branin, 80, seed, batch)) for seed in range(5))
        assert ours < theirs / 3, (batch, ours, theirs)
        assert ours < 0.1


def test_one_worker_with_a_seed_is_reproducible():
    first = [j.hyperparameters for j in optimise(make(), branin, 25, seed=7)]
    again = [j.hyperparameters for j in optimise(make(), branin, 25, seed=7)]
    other = [j.hyperparameters for j in optimise(make(), branin, 25, seed=8)]
    assert first == again
    assert first != other


def test_startup_is_one_scrambled_sobol_sequence_keyed_by_the_experiment():
    tpe = make({"x": {"uniform": {"low": 0, "high": 1}}}, nStartupJobs=16)
    jobs: list[JobView] = []
    for i in range(16):
        rng = random.Random(f"3:{i}")  # a new RNG per decision, as the claim passes
        state = rng.getstate()
        job = tpe.decide(Snapshot(tuple(jobs), key=3), rng).job
        assert job is not None
        assert rng.getstate() == state
        jobs.append(JobView(str(i), "DONE", job.hyperparameters, {"y": 0.0}, 0.0))
    xs = sorted(j.hyperparameters["x"] for j in jobs)
    # 16 Sobol points: one in each sixteenth of [0, 1).
    assert [math.floor(x * 16) for x in xs] == list(range(16))


def split(tpe: TPE, jobs: list[JobView]) -> tuple[list[str], list[str], int]:
    good, rest, finished = tpe._split(jobs)
    return [j.id for j in good], [j.id for j in rest], finished


def test_observations_nan_missing_crashed_pruned_and_pending_are_handled_deliberately():
    tpe = make()
    h = {"x1": 0.0, "x2": 0.0}
    jobs = [
        JobView("best", "DONE", h, {"y": -1.0}, 0.0),
        JobView("ok", "DONE", h, {"y": 3.0}, 1.0),
        JobView("nan", "DONE", h, {"y": float("nan")}, 2.0),
        JobView("missing", "DONE", h, {}, 3.0),
        JobView("text", "DONE", h, {"y": "oops"}, 4.0),
        JobView("crashed", "CRASHED", h, {"y": -100.0}, 5.0),
        JobView("pruned", "PRUNED", h, {"y": -50.0}, 6.0),
        JobView("running", "RUNNING", h, {}, 7.0),
        JobView("queued", "QUEUED", h, {}, 8.0),
    ]
    good, rest, finished = split(tpe, jobs)
    assert good == ["best"]
    assert rest == ["ok", "nan", "missing", "text", "pruned", "running", "queued"]
    assert finished == 6  # crashed and pending ones are not finished observations
    maximise = TPE.from_params({"distributions": BRANIN, "objective": "max", "resultName": "y"})
    assert split(maximise, jobs)[0] == ["ok"]


def test_a_pruned_job_ranks_by_its_last_value_after_every_done_job():
    tpe = make()
    h = {"x1": 0.0, "x2": 0.0}
    done = [JobView(f"d{i}", "DONE", h, {"y": 10.0 + i}, float(i)) for i in range(2)]
    pruned = [JobView(f"p{i}", "PRUNED", h, {"y": float(i)}, 10.0 + i) for i in range(20)]
    silent = JobView("silent", "PRUNED", h, {}, 50.0)
    good, rest, finished = split(tpe, [*done, *pruned, silent])
    # 22 ranked: γ = 3 good, the two DONE jobs first (however worse their value), then the best pruned one.
    assert good == ["d0", "d1", "p0"]
    assert rest == [f"p{i}" for i in range(1, 20)] + ["silent"]
    assert finished == 23
    # With enough DONE jobs, pruned ones never make the good set, whatever their value.
    many = [JobView(f"d{i}", "DONE", h, {"y": 10.0 + i}, float(i)) for i in range(30)]
    assert split(tpe, [*many, *pruned])[0] == ["d0", "d1", "d2", "d3", "d4"]


def test_decisions_do_not_depend_on_what_the_scheduler_kept_from_earlier_ones():
    fresh = optimise(make(), branin, 30, seed=7)
    shared = make()
    optimise(shared, branin, 30, seed=8)  # another experiment with the same definition, decided by the same instance
    assert [j.hyperparameters for j in optimise(shared, branin, 30, seed=7)] == [j.hyperparameters for j in fresh]
    # A job changed (a new view), jobs deleted (a shorter history): the same decision as from nothing.
    changed = [*fresh[:12], JobView("j12", "DONE", fresh[12].hyperparameters, {"y": -5.0}, 0.0), *fresh[13:]]
    for jobs in (changed, fresh[5:], changed):
        ours = shared.decide(Snapshot(tuple(jobs)), random.Random(1)).job
        theirs = make().decide(Snapshot(tuple(jobs)), random.Random(1)).job
        assert ours is not None
        assert theirs is not None
        assert ours.hyperparameters == theirs.hyperparameters


def test_integer_and_step_candidates_are_values_of_the_grid():
    space = {"n": {"integer": {"low": 0, "high": 30, "step": 3}}, "u": {"uniform": {"low": 0, "high": 1, "step": 0.25}}}
    jobs = optimise(make(space), lambda h: abs(h["n"] - 12) + abs(h["u"] - 0.5), 40, seed=3)
    assert {j.hyperparameters["n"] % 3 for j in jobs} == {0}
    assert {j.hyperparameters["u"] for j in jobs} <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert min(j.results["y"] for j in jobs) == 0


def test_the_observations_modelled_are_capped_best_first_then_recent():
    tpe = make(maxObservations=50)
    value = [float(i * 7919 % 2000) for i in range(2000)]  # a permutation of 0..1999
    jobs = [JobView(f"j{i}", "DONE", {"x1": 0.0, "x2": 0.0}, {"y": value[i]}, float(i)) for i in range(2000)]
    good, rest, _ = split(tpe, jobs)
    assert good == [f"j{i}" for i in range(2000) if value[i] < gamma(2000)]
    assert rest == [f"j{i}" for i in range(2000) if value[i] >= gamma(2000)][-25:]


def test_pending_jobs_spread_a_batch_out():
    tpe = make({"x": {"uniform": {"low": 0, "high": 1}}})
    rng = random.Random(0)
    done = [JobView(f"d{i}", "DONE", {"x": i / 20}, {"y": abs(i / 20 - 0.5)}, float(i)) for i in range(20)]
    batch: list[JobView] = []
    for i in range(8):
        job = tpe.decide(Snapshot((*done, *batch)), rng).job
        assert job is not None
        batch.append(JobView(f"r{i}", "RUNNING", job.hyperparameters, {}, 100.0 + i))
    xs = sorted(j.hyperparameters["x"] for j in batch)
    assert all(b - a > 1e-6 for a, b in itertools.pairwise(xs))


MIXED = {
    "optimizer": {
        "choice": {
            "values": ["sgd", "adam", "rmsprop"],
            "branches": {"sgd": {"momentum": {"uniform": {"low": 0, "high": 1}}}},
        }
    },
    "layers": {"integer": {"low": 1, "high": 8}},
    "width": {"integer": {"low": 8, "high": 1024, "log": True}},
    "lr": {"loguniform": {"low": 1e-5, "high": 1}},
    "dropout": {"uniform": {"low": 0, "high": 0.5, "step": 0.1}},
    "tag": {"const": "v1"},
}


def mixed(h: dict[str, Any]) -> float:
    """Best with sgd, momentum 0.9, 3 layers, width 256, lr 1e-2, dropout 0.2."""
    loss = 0.0 if h["optimizer"] == "sgd" else 1.0
    loss += abs(h.get("momentum", 0.0) - 0.9) + abs(h["layers"] - 3) / 4 + abs(math.log2(h["width"] / 256)) / 4
    return loss + abs(math.log10(h["lr"]) + 2) / 2 + abs(h["dropout"] - 0.2)


def test_mixed_conditional_spaces_give_valid_jobs_and_learn_the_branch():
    tpe = TPE.from_params({"distributions": MIXED, "objective": "min", "resultName": "y"})
    wins = 0
    for seed in range(3):
        jobs = optimise(tpe, mixed, 80, seed)
        for job in jobs:
            check_space(job.hyperparameters, tpe.params.distributions, "job")
            h = job.hyperparameters
            assert isinstance(h["layers"], int)
            assert 1 <= h["layers"] <= 8
            assert isinstance(h["width"], int)
            assert 8 <= h["width"] <= 1024
            assert round(h["dropout"] * 10) == pytest.approx(h["dropout"] * 10)
            assert h["tag"] == "v1"
        wins += sum(j.hyperparameters["optimizer"] == "sgd" for j in jobs[-30:]) > 15
    assert wins >= 2


def test_warm_start_from_jobs_it_did_not_create():
    tpe = make()
    rng = random.Random(0)
    grid = [{"x1": -5 + 15 * i / 9, "x2": 15 * k / 9} for i in range(10) for k in range(10)]
    imported = [JobView(f"i{n}", "DONE", h, {"y": branin(h)}, 0.0) for n, h in enumerate(grid)]
    job = tpe.decide(Snapshot(tuple(imported)), rng).job
    assert job is not None
    assert branin(job.hyperparameters) < statistics.median(j.results["y"] for j in imported)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"distributions": BRANIN, "objective": "minimise", "resultName": "y"}, "objective must be 'min' or 'max'"),
        ({"distributions": {}, "objective": "min", "resultName": "y"}, "at least one hyperparameter"),
        ({"distributions": BRANIN, "objective": "min", "resultName": ""}, "resultName must be"),
        ({"distributions": BRANIN, "objective": "min", "resultName": "y", "startup": "lhs"}, "startup must be one of"),
        ({"distributions": BRANIN, "objective": "min", "resultName": "y", "nEiCandidates": 0}, "n_ei_candidates"),
        ({"distributions": BRANIN, "objective": "min", "resultName": "y", "gamma": 2}, "unknown key(s) 'gamma'"),
    ],
)
def test_bad_parameters_are_refused_in_one_sentence(params, message):
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_scheduler({"TPESearch": params})


def test_a_choice_of_weight_zero_is_never_proposed_even_once_observed():
    space = {
        "w": {"choice": {"values": ["a", "b", "c"], "weights": [0, 1, 1]}},
        "x": {"uniform": {"low": 0, "high": 1}},
    }
    tpe = make(space, nStartupJobs=5)
    # Jobs added by hand may hold the excluded value, and even be the best ones.
    jobs = [JobView(f"h{i}", "DONE", {"w": "a", "x": i / 10}, {"y": -1.0}, 0.0) for i in range(3)]
    jobs += optimise(tpe, lambda h: h["x"] + (h["w"] == "c"), 60, seed=3)[:60]
    rng = random.Random(4)
    proposed = {tpe.decide(Snapshot(tuple(jobs)), rng).job.hyperparameters["w"] for _ in range(200)}
    assert "a" not in proposed
    assert proposed >= {"c"}


def test_huge_weights_weigh_as_their_ratios():
    # Each weight times their count overflows a float (their sum does not): the prior is still 10:1.
    space = {
        "w": {"choice": {"values": ["a", "b"], "weights": [1e308, 1e307]}},
        "x": {"uniform": {"low": 0, "high": 1}},
    }
    tpe = make(space, nStartupJobs=2)
    jobs = optimise(tpe, lambda h: h["x"], 40, seed=5)
    proposed = [j.hyperparameters["w"] for j in jobs[2:]]
    assert set(proposed) <= {"a", "b"}
    assert proposed.count("a") > proposed.count("b")


def test_step_values_are_the_decimal_ones_a_person_writes():
    tpe = make({"d": {"uniform": {"low": 0, "high": 1, "step": 0.1}}}, nStartupJobs=2)
    jobs = optimise(tpe, lambda h: abs(h["d"] - 0.3), 30, seed=6)
    assert {j.hyperparameters["d"] for j in jobs} <= {k / 10 for k in range(11)}


def test_a_stored_result_past_a_floats_range_counts_as_infinite_not_an_error():
    # The service refuses such results now; rows stored before may still hold one.
    jobs = [JobView("big", "DONE", {"x1": 0.0, "x2": 0.0}, {"y": 10**400}, 0.0)]
    jobs += [JobView(f"j{i}", "DONE", {"x1": i / 2, "x2": i}, {"y": float(i)}, 0.0) for i in range(12)]
    assert make(nStartupJobs=1).decide(Snapshot(tuple(jobs)), random.Random(0)).job is not None
