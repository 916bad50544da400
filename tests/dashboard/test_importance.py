"""PED-ANOVA importance on synthetic searches: the hyperparameter the objective depends on ranks first."""

from __future__ import annotations

import math
import random
from typing import Any

from schedy.server.dashboard.importance import MIN_JOBS, Kind, evaluate, space_kinds

SPACE = {
    "lr": Kind("log", 1e-5, 1e-1),
    "dropout": Kind("linear", 0.0, 0.6),
    "layers": Kind("linear", 1, 8),
    "optimizer": Kind("category"),
}


def search(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "lr": 10 ** rng.uniform(-5, -1),
            "dropout": rng.uniform(0, 0.6),
            "layers": rng.randint(1, 8),
            "optimizer": rng.choice(["sgd", "adam", "rmsprop"]),
        }
        for _ in range(n)
    ]


def ranked(result: Any) -> list[str]:
    return [name for name, _ in result.importances]


def test_a_log_hyperparameter_that_alone_sets_the_loss_ranks_first_and_the_importances_sum_to_one() -> None:
    jobs = [(hp, (math.log10(hp["lr"]) + 3) ** 2) for hp in search(400)]  # best at lr = 1e-3
    result = evaluate(jobs, "min", SPACE)
    assert result.jobs == 400
    assert ranked(result)[0] == "lr"
    values = dict(result.importances)
    assert math.isclose(sum(values.values()), 1.0)
    assert values["lr"] > 0.7, values


def test_the_direction_is_respected_and_a_choice_can_be_the_important_one() -> None:
    hps = search(300, seed=1)
    score = {"sgd": 0.2, "adam": 0.9, "rmsprop": 0.5}
    rng = random.Random(2)
    jobs = [(hp, score[hp["optimizer"]] + rng.gauss(0, 0.05)) for hp in hps]
    assert ranked(evaluate(jobs, "max", SPACE))[0] == "optimizer"
    # Minimising the same accuracy: the best jobs are the sgd ones; still the optimizer that matters.
    assert ranked(evaluate(jobs, "min", SPACE))[0] == "optimizer"
    by_dropout = [(hp, hp["dropout"]) for hp in hps]
    assert ranked(evaluate(by_dropout, "max", SPACE))[0] == "dropout"
    assert ranked(evaluate(by_dropout, "min", SPACE))[0] == "dropout"


def test_an_integer_hyperparameter_and_undeclared_ones_are_read_from_their_values() -> None:
    jobs = [(hp, abs(hp["layers"] - 6) + 0.01 * hp["dropout"]) for hp in search(300, seed=3)]
    assert ranked(evaluate(jobs, "min", SPACE))[0] == "layers"
    assert ranked(evaluate(jobs, "min", None))[0] == "layers"


def test_non_finite_and_missing_objectives_are_left_out() -> None:
    hps = search(200, seed=4)
    jobs: list[tuple[dict[str, Any], Any]] = [(hp, hp["dropout"]) for hp in hps]
    # Jobs with a NaN / infinite / missing / textual objective; they would rank first if counted.
    bad: list[Any] = [math.nan, -math.inf, math.inf, None, "oops", True]
    jobs += [({**hp, "dropout": 0.59, "lr": 1e-5}, v) for hp, v in zip(hps, bad * 10, strict=False)]
    result = evaluate(jobs, "min", SPACE)
    assert result.jobs == 200
    assert ranked(result)[0] == "dropout"


def test_a_conditional_branch_taken_only_by_the_best_jobs_counts() -> None:
    rng = random.Random(5)
    jobs = []
    for hp in search(300, seed=6):
        wide = rng.random() < 0.5
        if wide:
            hp["width"] = rng.randint(16, 256)
        jobs.append((hp, (0.0 if wide else 1.0) + rng.gauss(0, 0.1)))
    result = evaluate(jobs, "min", SPACE)
    assert ranked(result)[0] == "width"


def test_too_few_jobs_give_no_importance() -> None:
    jobs = [(hp, hp["dropout"]) for hp in search(MIN_JOBS - 1)]
    assert evaluate(jobs, "min", SPACE).importances == []
    assert evaluate([], "min", SPACE).jobs == 0


def test_the_declared_space_is_read_like_the_page_reads_it() -> None:
    kinds = space_kinds(
        {
            "TPE": {
                "resultName": "loss",
                "distributions": {
                    "lr": {"loguniform": {"low": 1e-5, "high": 0.1}},
                    "batch": {"choice": {"values": [32, 64]}},
                    "layers": {"integer": {"low": 1, "high": 8}},
                    "model": {
                        "choice": {
                            "values": ["mlp"],
                            "branches": {"mlp": {"width": {"integer": {"low": 8, "high": 512, "log": True}}}},
                        }
                    },
                },
            }
        }
    )
    assert kinds == {
        "lr": Kind("log", 1e-5, 0.1),
        "batch": Kind("category"),
        "layers": Kind("linear", 1, 8),
        "model": Kind("category"),
        "width": Kind("log", 8, 512),
    }
    assert space_kinds({"GridSearch": {"a": [1, 2]}}) == {"a": Kind("category")}
