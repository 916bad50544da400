"""``schedy list -s/-f`` take the column names of ``schedy export`` (``results.loss``, ``hyperparameters.lr``)."""

from __future__ import annotations

from typing import Any

import schedy
from tests.cli.conftest import Cli


def _jobs(cli: Cli, name: str, *jobs: tuple[dict[str, Any], dict[str, Any]]) -> list[str]:
    """A manual search with these ``(hyperparameters, results)`` jobs DONE, in this order; their ids."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch(name))
        exp = db.get_experiment(name)
        return [exp.add_job(hyperparameters=hps, results=results, status="DONE").job_id for hps, results in jobs]


def test_list_sorts_and_picks_fields_by_the_column_names_of_export(cli: Cli) -> None:
    a, b, c = _jobs(
        cli,
        "mnist",
        ({"lr": 0.1, "opt": "sgd"}, {"loss": 0.5}),
        ({"lr": 0.01, "opt": "adam"}, {"loss": 0.2}),
        ({"lr": 0.001, "opt": "adam"}, {"loss": 0.9}),
    )
    header = cli.ok("export", "mnist").splitlines()[0]
    assert "results.loss" in header
    assert "hyperparameters.lr" in header

    assert cli.ok("list", "mnist", "-s", "results.loss", "-f", "id").split() == [b, a, c]
    assert cli.ok("list", "mnist", "-s", "results.loss", "-d", "-f", "id").split() == [c, a, b]
    assert cli.ok("list", "mnist", "-s", "hyperparameters.lr", "-f", "id", "-f", "results.loss").splitlines() == [
        f"{c}  0.9",
        f"{b}  0.2",
        f"{a}  0.5",
    ]
    # The same as list's own names, which keep working.
    by_loss = cli.ok("list", "mnist", "-s", "loss", "-f", "id")
    assert cli.ok("list", "mnist", "-s", "results.loss", "-f", "id") == by_loss
    assert cli.ok("list", "mnist", "-s", "result.loss", "-f", "id") == by_loss


def test_export_names_tell_a_hyperparameter_from_a_result_of_the_same_name(cli: Cli) -> None:
    a, b = _jobs(cli, "both", ({"x": 2}, {"x": 10}), ({"x": 1}, {"x": 20}))
    assert cli.ok("list", "both", "-s", "hyperparameters.x", "-f", "id").split() == [b, a]
    assert cli.ok("list", "both", "-s", "results.x", "-f", "id").split() == [a, b]
    assert cli.ok("list", "both", "-f", "id", "-f", "results.x", "-f", "hyperparameters.x", "-s", "results.x", "-d")
    assert cli.ok("list", "both", "-t", "-f", "results.x", "-f", "hyperparameters.x").splitlines()[1] == (
        "| result.x | hyperparameter.x |"
    )


def test_a_result_named_like_an_export_column_keeps_its_own_meaning(cli: Cli) -> None:
    # A result may be named "results.loss" itself: then that field is it, not the result "loss".
    a, b = _jobs(cli, "odd", ({"lr": 1}, {"results.loss": 2, "loss": 1}), ({"lr": 2}, {"results.loss": 1, "loss": 2}))
    assert cli.ok("list", "odd", "-s", "results.loss", "-f", "id").split() == [b, a]
    assert cli.ok("list", "odd", "-s", "loss", "-f", "id").split() == [a, b]


def test_an_unknown_field_is_still_refused_with_the_fields_there_are(cli: Cli) -> None:
    _jobs(cli, "small", ({"lr": 0.1}, {"loss": 0.5}))
    done = cli("list", "small", "-s", "results.accuracy")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("There is no field 'results.accuracy'; the fields are: id, status, lr, loss.")
    assert done.stdout == ""


def test_experiments_list_takes_hyperparameters_dot_name(cli: Cli) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("r", distributions={"lr": schedy.random.Uniform(0, 1)}))
    out = cli.ok("list", "-f", "name", "-f", "hyperparameters.lr")
    assert out.split()[0] == "r"
    assert "uniform" in out
