"""An experiment read with its counts is one moment's, even while a worker claims (SQLite and PostgreSQL).

``schedy watch --until-done`` ends when the budget (``jobsCreated``) is spent and no job is
running (``jobCounts``). Read in two statements at two moments, a claim committed between them
showed the budget spent by a job the counts did not hold yet: the watcher stopped while that job
ran (seen once on CI, PostgreSQL). The claim is committed here between the read's statements,
whichever it runs first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from schedy.server.service import experiments as service_experiments
from schedy.server.service.experiments import Experiments
from schedy.server.store import Store, budget, users
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs


def _claim(store: Store, experiment_id: int, job_id: str) -> None:
    """What a claim of a budgeted search writes: one job more in the budget, and the job, RUNNING."""
    with store.write() as conn:
        assert budget.spend(conn, experiment_id, 2)
        store_jobs.insert(
            conn, experiment_id, job_id, "RUNNING", json.dumps({"x": 0.5}), "{}", worker="w", heartbeat=30
        )


def test_counts_and_the_budget_are_read_at_one_moment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.write() as conn:
        owner = users.create(conn, "counts@example.com", None)
        row = store_experiments.create(
            conn, owner, "s", "RUNNING", "RandomSearch", json.dumps({"x": {"uniform": {"low": 0, "high": 1}}}),
            json.dumps({"maxJobs": 2}),
        )  # fmt: skip
        assert row is not None
        experiment_id = int(row.id)
    _claim(store, experiment_id, "first")
    with store.write() as conn:
        store_jobs.replace(conn, experiment_id, "first", "DONE", json.dumps({"x": 0.5}), json.dumps({"y": 1}))

    claimed: list[str] = []

    def then_claim(read: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            answer = read(*args, **kwargs)
            if not claimed:  # the second worker's claim lands right after the read's first statement
                claimed.append("second")
                _claim(store, experiment_id, "second")
            return answer

        return wrapped

    monkeypatch.setattr(
        service_experiments.store_experiments, "status_counts", then_claim(store_experiments.status_counts)
    )
    monkeypatch.setattr(service_experiments.budget, "created", then_claim(budget.created))
    _, counts = Experiments(store).get(owner, "s", counts=True)
    assert claimed == ["second"]
    assert counts is not None
    jobs, created = counts["jobCounts"], counts["jobsCreated"]
    # Before or after the claim, but not half of each: every job the budget counts is among the counts.
    assert (jobs, created) in [({"DONE": 1}, 1), ({"DONE": 1, "RUNNING": 1}, 2)]
