"""``schedy list`` / ``show`` of a TPE search an earlier version stored with an option past today's bounds.

docs/service.md "Upgrading" promises such a search is shown as stored; the CLI used to call it
"(unknown to this client)" with no hyperparameters (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update

import schedy
from schedy.random import LogUniform, Uniform
from schedy.server.store import Store
from schedy.server.store.tables import experiments
from tests.cli.conftest import Cli


def _store_params(database_url: str, name: str, params: Any) -> None:
    """Write a scheduler's parameters as an earlier version stored them, past today's validation."""
    store = Store(database_url, pool_size=1)
    try:
        with store.write() as conn:
            conn.execute(update(experiments).where(experiments.c.name == name).values(params=json.dumps(params)))
    finally:
        store.dispose()


def test_a_tpe_search_stored_past_todays_bounds_is_listed_and_shown_as_stored(cli: Cli) -> None:
    with cli.db() as db:
        exp = schedy.TPESearch("tpe", {"x": Uniform(0, 1), "lr": LogUniform(1e-5, 0.1)}, "min", "loss")
        db.add_experiment(exp)
        stored = exp.params.to_wire() | {"nEiCandidates": 5000}  # allowed then, 1 to 1000 now
        _store_params(cli.service.process.database_url, "tpe", stored)
    listed = cli.ok("list")
    assert listed.splitlines() == ["tpe  RUNNING  TPESearch"]  # was "(unknown to this client)"
    paragraph = cli.ok("list", "-p").splitlines()
    assert 'x: uniform ({"low": 0.0, "high": 1.0})' in paragraph
    assert 'lr: loguniform ({"low": 1e-05, "high": 0.1})' in paragraph
    shown = cli.ok("show", "tpe").splitlines()
    assert shown[:5] == [
        "name: tpe",
        "status: RUNNING",
        "scheduler: TPESearch",
        'x: uniform ({"low": 0.0, "high": 1.0})',
        'lr: loguniform ({"low": 1e-05, "high": 0.1})',
    ]
    assert "objective: min loss" in shown
    assert "ei candidates: 5000" in shown  # as stored
    assert "note: n_ei_candidates=5000 is past today's bounds: the service runs the search with 1000" in shown
