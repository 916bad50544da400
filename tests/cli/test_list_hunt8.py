"""``schedy list``: the service's job fields by export's names (``-f``/``-s``), and values told apart in tables."""

from __future__ import annotations

import time

import pytest

import schedy
from schedy.cli.table import Table
from tests.cli.conftest import Cli


def test_list_sorts_by_and_shows_the_service_fields_export_names(cli: Cli) -> None:
    with cli.db() as db:
        exp = db.add_experiment(schedy.ManualSearch("m"))
        a, b, c = (exp.add_job(hyperparameters={"lr": lr}).job_id for lr in (0.1, 0.2, 0.3))
        first, second = exp.next_job(worker="alpha"), exp.next_job(worker="beta")
        assert [first.job_id, second.job_id] == [a, b]
        with second:
            second.results["loss"] = 0.5
        time.sleep(0.01)  # times are to the millisecond: one apart
        with first:
            first.results["loss"] = 0.25
        time.sleep(0.01)
        with pytest.raises(ValueError, match="bad"), exp.next_job(worker="gamma"):
            raise ValueError("bad\nvalue")

    # Not shown unless asked: -t keeps its columns.
    assert cli.ok("list", "m", "-t").splitlines()[1].split() == ["|", "id", "|", "status", "|", "lr", "|", "loss", "|"]
    # Sorted by when each job ended (c crashed last), with its worker, attempt, end reason and error, one line
    # per job as export writes them (the error's line break escaped).
    fields = ("id", "worker", "attempt", "end_reason", "error")
    lines = cli.ok("list", "m", "-s", "finished_at", *(f"-f{field}" for field in fields)).splitlines()
    assert [line.split(None, 4) for line in lines] == [
        [b, "beta", "1", "reported"],
        [a, "alpha", "1", "reported"],
        [c, "gamma", "1", "raised", '"ValueError: bad\\nvalue"'],
    ]


def test_a_hyperparameter_or_result_named_like_a_service_field_keeps_the_bare_name() -> None:
    table = Table([("schedy", "id")], hidden=[("service", "worker")])
    table.add_row({("schedy", "id"): "a", ("result", "worker"): 2, ("service", "worker"): "w1"})
    assert table.resolve("worker") == ("result", "worker")
    assert table.resolve("service.worker") == ("service", "worker")
    assert table.names() == ["id", "worker"]


def test_list_tells_strings_from_the_values_they_spell(cli: Cli) -> None:
    values = ["3", 3, "true", True, "", None, "null", "two\nlines", "adam"]
    with cli.db() as db:
        exp = db.add_experiment(schedy.ManualSearch("v"))
        for value in values:
            exp.add_job(hyperparameters={"x": value})
        exp.add_job(hyperparameters={"y": 1})  # no x: blank

    shown = ['"3"', "3", '"true"', "true", '""', "null", '"null"', '"two\\nlines"', "adam", ""]
    table = cli.ok("list", "v", "-t", "-f", "x").splitlines()
    assert [line.strip("| ").rstrip() for line in table[3:-1]] == shown
    # One line per job without a header too, for cut and awk.
    plain = cli.ok("list", "v", "-f", "x", "-f", "id").splitlines()
    assert [line.rsplit(None, 1)[0].strip() if " " in line.strip() else "" for line in plain] == shown
    assert 'x: "3"\n' in cli.ok("list", "v", "-p", "-f", "x")
