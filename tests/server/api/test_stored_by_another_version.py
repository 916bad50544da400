"""A search stored by an earlier Schedy under looser rules keeps running after an upgrade (SQLite and PostgreSQL).

Earlier versions accepted TPE searches of up to 10,000 candidates and 1,000,000 modelled jobs per
decision; today's bounds refuse them as new definitions. One already stored runs at the bounds, and a
stored definition this version cannot run at all answers one sentence (409), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update

from schedy.server.store import Store
from schedy.server.store.tables import experiments

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}}


def _store_params(service: Any, name: str, params: Any) -> None:
    """Write a scheduler's parameters as an earlier version stored them, past today's validation."""
    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.write() as conn:
            conn.execute(update(experiments).where(experiments.c.name == name).values(params=json.dumps(params)))
    finally:
        store.dispose()


def test_a_tpe_search_stored_past_todays_bounds_still_hands_out_jobs(service, api) -> None:
    path = api.create_experiment(
        "old-tpe", {"TPESearch": {"distributions": SPACE, "objective": "min", "resultName": "loss", "nStartupJobs": 2}}
    )
    stored = {
        "distributions": SPACE,
        "objective": "min",
        "resultName": "loss",
        "nStartupJobs": 2,
        "nEiCandidates": 10_000,
        "maxObservations": 1_000_000,
    }
    _store_params(service, "old-tpe", stored)
    for i in range(5):  # past the startup: the model decides
        answer = api.request("POST", path + "nextjob/", {"worker": "w"})
        assert answer.status_code == 200, answer.text
        job = answer.json()
        done = {"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"loss": i}}
        assert api.request("PUT", f"{path}jobs/{job['id']}/", done).status_code == 200
    # Shown as stored: nothing of the user's definition is rewritten.
    assert api.request("GET", path).json()["scheduler"]["TPESearch"]["nEiCandidates"] == 10_000


def test_a_stored_search_this_version_cannot_run_is_one_sentence_not_a_500(service, api) -> None:
    path = api.create_experiment("unreadable", {"RandomSearch": SPACE})
    _store_params(service, "unreadable", {"x": {"triangular": {"low": 0, "high": 1}}})
    answer = api.request("POST", path + "nextjob/", {"worker": "w"})
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("This experiment's RandomSearch search, as stored, cannot be run by Schedy ")
    assert detail.endswith("give it a scheduler again (PUT the experiment with one); its jobs are kept.")
    # Doing what it says is enough.
    assert api.request("PUT", path, {"scheduler": {"RandomSearch": SPACE}}).status_code == 200
    assert api.request("POST", path + "nextjob/", {"worker": "w"}).status_code == 200
