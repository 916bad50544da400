"""What a search hands out, as a user checks it from the client (real service, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

import schedy
from schedy.random import Choice, Uniform


def _draws(db: schedy.SchedyDB, name: str, seed: int | None, n: int = 5, **options) -> list[dict]:
    search = schedy.RandomSearch(name, {"x": Uniform(0, 1), "c": Choice(["a", "b", "c"])}, seed=seed, **options)
    db.add_experiment(search)
    exp = db.get_experiment(name)
    draws = []
    for _ in range(n):
        with exp.next_job() as job:
            draws.append(dict(job.hyperparameters))
    return draws


@pytest.mark.parametrize("sampler", ["iid", "sobol"])
def test_a_seeded_random_search_replays_its_draws_with_one_worker(db, sampler):
    # docs/protocol.md: `seed` "seeds the search's random stream, so one worker replays the same search".
    first = _draws(db, f"seeded-a-{sampler}", 7, sampler=sampler)
    again = _draws(db, f"seeded-b-{sampler}", 7, sampler=sampler)
    other = _draws(db, f"seeded-c-{sampler}", 8, sampler=sampler)
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "search",
    [
        lambda **kw: schedy.ManualSearch("opts", **kw),
        lambda **kw: schedy.RandomSearch("opts", {"x": Uniform(0, 1)}, **kw),
        lambda **kw: schedy.GridSearch("opts", {"x": [1, 2]}, **kw),
        lambda **kw: schedy.TPESearch("opts", {"x": Uniform(0, 1)}, "min", "loss", n_startup_jobs=5, **kw),
        lambda **kw: schedy.PopulationBasedTraining(
            "opts", "max", "acc", schedy.pbt.Truncate(), initial_distributions={"x": Uniform(0, 1)},
            population_size=2, **kw),
    ],
)  # fmt: skip
def test_seed_retries_and_run_time_are_keywords_of_every_search(db, search):
    db.add_experiment(search(seed=7, max_retries=2, max_run_time=90))
    back = db.get_experiment("opts")
    assert (back.seed, back.max_retries, back.max_run_time) == (7, 2, 90)
    assert {k: back.extra[k] for k in ("seed", "maxRetries", "maxRunTime")} == {
        "seed": 7,
        "maxRetries": 2,
        "maxRunTime": 90,
    }
    plain = db.get_experiment("opts")
    plain.max_retries = 0
    plain.push_updates()
    assert db.get_experiment("opts").max_retries == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"max_retries": True}, "max_retries must be a non-negative integer"),
        ({"max_run_time": 0}, "max_run_time must be a positive number of seconds"),
        ({"max_run_time": float("inf")}, "max_run_time must be a positive number of seconds"),
    ],
)
def test_bad_options_are_refused_before_sending(options, message):
    with pytest.raises(schedy.errors.DefinitionError, match=message):
        schedy.RandomSearch("bad", {"x": Uniform(0, 1)}, **options)


def test_grid_cells_of_a_step_are_the_decimal_values_and_hand_added_ones_count(db):
    db.add_experiment(schedy.GridSearch("steps", {"d": Uniform(0, 1, step=0.1)}))
    exp = db.get_experiment("steps")
    exp.add_job(hyperparameters={"d": 0.3}, status=schedy.Job.DONE)
    exp.add_job(hyperparameters={"d": 0.7}, status=schedy.Job.DONE)
    handed = []
    for job in exp.jobs():
        with job:
            handed.append(job.hyperparameters["d"])
    assert sorted(handed) == [0.0, 0.1, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0]


@pytest.mark.parametrize("value", ["0.5", b"0.5", True])
def test_a_metric_that_is_not_a_number_is_refused_before_sending(db, value):
    db.add_experiment(schedy.ManualSearch("metrics"))
    exp = db.get_experiment("metrics")
    exp.add_job(hyperparameters={"x": 1})
    with exp.next_job() as job:
        with pytest.raises(ValueError, match="Metric 'loss' must be a number"):
            job.report(1, loss=value)
        assert job.reports() == []
