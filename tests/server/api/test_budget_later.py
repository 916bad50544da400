"""A ``maxJobs`` budget set on a search that already ran, whose jobs ended at once (SQLite and PostgreSQL).

The jobs the search created so far count against the budget (docs/search.md). SQLite's clock reads
whole milliseconds: a job that ends within the millisecond of its claim (a trivial objective, a crash or
a prune at once) has the same ``finished_at`` as ``created_at``, as a job added finished (an import)
has. Such a job is still the search's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, update

import schedy
from schedy.random import Uniform
from schedy.server.store import Store
from schedy.server.store.tables import jobs

SCHEDULER = {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}


def test_a_budget_set_later_counts_search_jobs_that_ended_in_the_millisecond_of_their_claim(service, api) -> None:
    path = api.create_experiment("instant", SCHEDULER)

    def claim(options: dict[str, Any] | None) -> dict[str, Any] | None:
        answer = api.request("POST", path + "nextjob/", options)  # None: no body, as the 0.1.0b6 client
        assert answer.status_code in (200, 204), answer.text
        return answer.json() if answer.status_code == 200 else None

    def finish(job: dict[str, Any], status: str = "DONE") -> None:
        done = {"status": status, "hyperparameters": job["hyperparameters"], "results": {"loss": 0}}
        assert api.request("PUT", f"{path}jobs/{job['id']}/", done).status_code == 200

    made = []
    for options, status in [({"worker": "w"}, "DONE"), ({"worker": "w"}, "CRASHED"), ({"worker": "w"}, "PRUNED")]:
        job = claim(options)
        assert job is not None
        finish(job, status)
        made.append(job["id"])
    unnamed = claim(None)  # a worker that gives no name
    assert unnamed is not None
    finish(unnamed)
    made.append(unnamed["id"])
    # Added finished, as `schedy import` adds jobs: not the search's; one of them edited since.
    for x in (0.1, 0.2):
        added = api.add_job("instant", status="DONE", hyperparameters={"x": x}, results={"loss": 1})
        assert added.status_code == 201, added.text
    time.sleep(0.01)
    edited = {"status": "DONE", "hyperparameters": {"x": 0.2}, "results": {"loss": 2}}
    assert api.request("PUT", f"{path}jobs/{added.json()['id']}/", edited).status_code == 200

    # What the database holds when each of the search's jobs ended within its claim's millisecond (SQLite).
    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.write() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.job_id.in_(made))
                .values(finished_at=jobs.c.created_at, updated_at=jobs.c.created_at)
            )
    finally:
        store.dispose()

    answer = api.request("PUT", path, {"status": "RUNNING", "scheduler": SCHEDULER, "maxJobs": 6})
    assert answer.status_code == 200, answer.text
    assert api.http.get(path, params={"counts": "true"}).json()["jobsCreated"] == 4  # `schedy show`: jobs made
    more = 0
    while (job := claim({"worker": "w"})) is not None:
        finish(job)
        more += 1
    assert more == 2  # 6 in all, not 6 more
    final = api.http.get(path, params={"counts": "true"}).json()
    assert (final["jobsCreated"], final["status"], sum(final["jobCounts"].values())) == (6, "DONE", 8)


def test_a_budget_set_later_on_a_search_of_trivial_jobs_is_never_exceeded(service, api) -> None:
    # The worker loop of docs/search.md with a job that takes no time, then `schedy set --max-jobs 16`.
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.add_experiment(schedy.RandomSearch("trivial", {"x": Uniform(0, 1)}, seed=1))
        for job in exp.jobs(max_jobs=12):
            with job:
                job.results["loss"] = 1
        exp = db.get_experiment("trivial")
        exp.max_jobs = 16
        exp.push_updates()
        assert api.http.get("experiments/trivial/", params={"counts": "true"}).json()["jobsCreated"] == 12
        for job in exp.jobs():
            with job:
                job.results["loss"] = 1
        assert len(list(exp.all_jobs())) == 16
    assert api.http.get("experiments/trivial/", params={"counts": "true"}).json()["jobsCreated"] == 16


@pytest.mark.parametrize("max_jobs", [None, 100], ids=["unbudgeted", "budgeted"])
def test_a_new_jobs_times_are_one_reading_of_the_clock(service, api, max_jobs: int | None) -> None:
    # PostgreSQL's clock moves within a statement: the search's jobs are told from jobs added by hand by
    # started_at = created_at, so a claim's row must read the clock once, however loaded the machine.
    options = {} if max_jobs is None else {"maxJobs": max_jobs}
    path = api.create_experiment(f"one-reading-{max_jobs}", SCHEDULER, **options)
    claimed = []
    for _ in range(20):
        answer = api.request("POST", path + "nextjob/", {"worker": "w"})
        assert answer.status_code == 200, answer.text
        claimed.append(answer.json()["id"])
    assert api.http.get(path, params={"counts": "true"}).json()["jobsCreated"] == 20
    running = api.add_job(path.split("/")[1], status="RUNNING", hyperparameters={"x": 0.5})
    done = api.add_job(path.split("/")[1], status="DONE", hyperparameters={"x": 0.5}, results={"loss": 1})
    assert running.status_code == done.status_code == 201, (running.text, done.text)

    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.read() as conn:
            rows = {
                row.job_id: row
                for row in conn.execute(
                    select(jobs.c.job_id, jobs.c.created_at, jobs.c.updated_at, jobs.c.started_at, jobs.c.finished_at)
                )
            }
    finally:
        store.dispose()
    for job_id in claimed:
        row = rows[job_id]
        assert row.created_at == row.updated_at == row.started_at, row
    row = rows[running.json()["id"]]
    assert row.created_at == row.updated_at == row.started_at, row
    row = rows[done.json()["id"]]
    assert row.created_at == row.updated_at == row.started_at == row.finished_at, row
