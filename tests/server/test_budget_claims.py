"""A budgeted search claimed through the synchronous claim path (the one outside the event loop).

The HTTP layer on PostgreSQL claims on the event loop; the same use case also runs in a thread
(``Claims.claim``). There too a budget taken and the job it pays for commit together, and a claim
past the budget ends the search once nothing runs. (SQLite and PostgreSQL.)
"""

from __future__ import annotations

import json

from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.store import Store, users
from schedy.server.wire import JobInput, parse_experiment

SEARCH = {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}, "maxJobs": 2}


def test_a_budgeted_search_hands_out_its_budget_counted_as_it_goes_and_then_ends(store: Store) -> None:
    with store.write() as conn:
        owner = users.create(conn, "budget@example.com", None)
    experiments, claims, jobs = Experiments(store), Claims(store), Jobs(store)
    experiments.put(owner, "b", parse_experiment(json.dumps(SEARCH).encode()), create_only=True)
    handed = []
    for _ in range(2):
        job = claims.claim(owner, "b", worker="w", heartbeat=30)
        assert job is not None
        handed.append(job.job_id)
        _, counts = experiments.get(owner, "b", counts=True)
        assert counts is not None
        assert counts["jobsCreated"] == sum(counts["jobCounts"].values()) == len(handed)
    assert claims.claim(owner, "b", worker="w", heartbeat=30) is None  # spent; a job still runs
    assert experiments.get(owner, "b")[0].status == "RUNNING"
    for job_id in handed:
        row = jobs.get(owner, "b", job_id)
        done = JobInput(status="DONE", hyperparameters=json.loads(row.hyperparameters), results={"y": 1})
        jobs.put(owner, "b", job_id, done, if_match=None, if_none_match=False)
    assert claims.claim(owner, "b", worker="w", heartbeat=30) is None
    exp, counts = experiments.get(owner, "b", counts=True)
    assert (exp.status, counts) == ("DONE", {"jobCounts": {"DONE": 2}, "jobsCreated": 2})


def test_a_unit_of_the_budget_is_taken_only_while_one_is_left_and_the_experiment_is_not_done(store: Store) -> None:
    # The statement shared by both claim paths (spend, and the one-statement claims on PostgreSQL).
    from schedy.server.store import budget
    from schedy.server.store import experiments as store_experiments

    with store.write() as conn:
        owner = users.create(conn, "spend@example.com", None)
    experiments = Experiments(store)
    experiments.put(owner, "s", parse_experiment(json.dumps(SEARCH).encode()), create_only=True)
    with store.write() as conn:
        exp = store_experiments.get_record(conn, owner, "s")
        assert exp is not None
        assert [budget.spend(conn, exp.id, 2) for _ in range(3)] == [True, True, False]
        assert budget.created(conn, exp.id) == 2
        store_experiments.set_status(conn, exp.id, "DONE")
        assert not budget.spend(conn, exp.id, 5)  # a larger budget, but the experiment is DONE
        assert budget.created(conn, exp.id) == 2
