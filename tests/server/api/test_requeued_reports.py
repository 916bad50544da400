"""A job set back to QUEUED runs again as its next attempt, and early stopping judges that run afresh.

Before, a job told to stop and then put back in the queue by hand kept its stop
decision and its place in the policy's rungs: its next run was told to stop at
its first report, whatever it reported. On SQLite and PostgreSQL, through the
real client and HTTP, and with two service processes' policy states (one fed
report by report, one built from every report afterwards): the earlier run's
reports are kept with their attempt, the outcome of that run is kept in the
job's attempts, and the new run is stopped only for what it reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import schedy
from schedy import errors
from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.service.reports import Reports
from schedy.server.store import Store, migrate, users
from schedy.server.store import attempts as store_attempts
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.wire import JobInput, dumps, parse_experiment
from schedy.stopping import ASHA


@pytest.fixture
def db(service: Any):
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


#: Rungs at steps 1 and 3; of the jobs reaching a rung, the best third goes on.
POLICY = {"asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3, "maxStep": 9}}


def _finish_good_jobs(exp: schedy.Experiment, losses: list[float]) -> None:
    """Jobs that each reach rung 1 with the best value so far (so each goes on), then end DONE."""
    for loss in losses:
        exp.add_job(hyperparameters={"lr": loss})
        with exp.next_job() as job:
            assert not job.report(1, loss=loss)
            job.results["loss"] = loss


def test_a_pruned_job_put_back_in_the_queue_runs_again_and_is_judged_on_its_new_reports(api, db):
    exp = schedy.ManualSearch("again", early_stopping=ASHA("loss", "min", min_step=1, max_step=9))
    db.add_experiment(exp)
    _finish_good_jobs(exp, [0.3, 0.2, 0.1])
    exp.add_job(hyperparameters={"lr": 9.0})
    with exp.next_job() as bad:
        if bad.report(1, loss=9.0):
            raise errors.JobPruned()
    pruned = exp.get_job(bad.job_id)
    assert pruned.status == schedy.Job.PRUNED
    assert pruned.stop_reason is not None

    # The user puts it back in the queue (the 2018 client's way: status, then put).
    pruned.status = schedy.Job.QUEUED
    pruned.put()
    queued = exp.get_job(bad.job_id)
    assert (queued.status, queued.stop_reason) == (schedy.Job.QUEUED, None)
    wire = api.http.get(f"experiments/again/jobs/{bad.job_id}/").json()
    assert wire["attempt"] == 2

    # Its new run reports the best value at rung 1, then goes on to rung 3: never told to stop.
    with exp.next_job() as rerun:
        assert rerun.job_id == bad.job_id
        told = [rerun.report(step, loss=0.05) for step in (1, 2, 3, 4)]
        rerun.results["loss"] = 0.05
    assert told == [False] * 4
    done = exp.get_job(bad.job_id)
    assert (done.status, done.stop_reason) == (schedy.Job.DONE, None)

    # Both runs' reports are kept, each with the attempt that sent it.
    items = api.http.get(f"experiments/again/jobs/{bad.job_id}/reports/").json()["items"]
    everything = api.http.get("experiments/again/reports/").json()["items"]
    assert [(r["attempt"], r["step"], r["metrics"]["loss"]) for r in items] == [
        (1, 1, 9.0),
        (2, 1, 0.05),
        (2, 2, 0.05),
        (2, 3, 0.05),
        (2, 4, 0.05),
    ]
    assert [r["attempt"] for r in everything if r["job"] == bad.job_id] == [1, 2, 2, 2, 2]
    assert [r["attempt"] for r in exp.get_job(bad.job_id).reports()] == [1, 2, 2, 2, 2]
    frame = exp.to_dataframe(reports=True)
    assert frame[frame["job"] == bad.job_id]["attempt"].tolist() == [1, 2, 2, 2, 2]
    # The rungs count jobs: the new run takes its stopped attempt's place at rung 1 (4 jobs, not 5).
    rungs = api.http.get("experiments/again/stopping/").json()["rungs"]
    assert [(r["step"], r["jobs"]) for r in rungs if r["step"] in (1, 3)] == [(1, 4), (3, 1)]


def test_a_running_job_put_back_in_the_queue_is_not_stopped_by_its_first_runs_decision(api, db):
    """A worker that was told to stop hands its job back (QUEUED) instead of ending it; the next run is fresh."""
    exp = schedy.ManualSearch("handback", early_stopping=ASHA("loss", "min", min_step=1, max_step=9))
    db.add_experiment(exp)
    _finish_good_jobs(exp, [0.3, 0.2, 0.1])
    exp.add_job(hyperparameters={"lr": 9.0})
    job = exp.next_job()
    assert job.report(1, loss=9.0) is True
    job.status = schedy.Job.QUEUED
    job.put()
    with exp.next_job() as rerun:
        assert rerun.job_id == job.job_id
        assert rerun.report(1, loss=0.01) is False
        rerun.results["loss"] = 0.01
    assert exp.get_job(job.job_id).status == schedy.Job.DONE


# -- two service processes: one state fed report by report, one built from every report after the re-queue --


@pytest.fixture
def stores(database_url):
    first = Store(database_url)
    migrate.upgrade(first)
    second = Store(database_url)
    with first.write() as conn:
        owner = users.create(conn, "requeue@example.com", None)
    body = {"scheduler": {"Manual": {}}, "earlyStopping": POLICY}
    Experiments(first).put(owner, "asha", parse_experiment(json.dumps(body).encode()), create_only=True)
    yield owner, first, second
    first.dispose()
    second.dispose()


def _run(store: Store, reports: Reports, owner: int, loss: float) -> tuple[str, bool]:
    """Add a job, claim it and report ``loss`` at step 1 through ``store``'s services; its id and the answer."""
    added = Jobs(store).add(owner, "asha", JobInput(status="QUEUED", hyperparameters={"loss": loss}))
    claimed = Claims(store).claim(owner, "asha", worker="w", heartbeat=30.0)
    assert claimed is not None
    assert claimed.job_id == added.job_id
    return added.job_id, reports.report(owner, "asha", added.job_id, [(1, dumps({"loss": loss}))]).stop


def _put(store: Store, owner: int, job_id: str, status: str, results: dict[str, Any]) -> store_jobs.JobRecord:
    row, _ = Jobs(store).put(
        owner,
        "asha",
        job_id,
        JobInput(status=status, hyperparameters={"loss": 9.0}, results=results),
        if_match="*",
        if_none_match=False,
    )
    return row


def test_both_processes_judge_the_new_attempt_alike_and_keep_the_first_one(stores):
    owner, first, second = stores
    fed, built = Reports(first), Reports(second)
    for loss in (0.3, 0.2, 0.1):
        job_id, stop = _run(first, fed, owner, loss)
        assert stop is False
        _put(first, owner, job_id, "DONE", {"loss": loss})
    bad, stop = _run(first, fed, owner, 9.0)
    assert stop is True
    _put(first, owner, bad, "PRUNED", {"partial": 1})
    again = _put(first, owner, bad, "QUEUED", {})
    assert (again.status, again.attempt, again.stop_reason) == ("QUEUED", 2, None)
    with first.read() as conn:
        exp = store_experiments.get_record(conn, owner, "asha")
        assert exp is not None
        [kept] = store_attempts.of_job(conn, again.pk)
    assert (kept.attempt, kept.status, json.loads(kept.results)) == (1, "PRUNED", {"partial": 1})

    # The process that saw every report (its state fed one by one) and a process whose state is built from
    # every report now (the bulk path) give the new run's reports the same answers.
    claimed = Claims(first).claim(owner, "asha", worker="w", heartbeat=30.0)
    assert claimed is not None
    assert (claimed.job_id, claimed.attempt) == (bad, 2)
    rung1 = dumps({"loss": 0.05})
    assert fed.report(owner, "asha", bad, [(1, rung1)]).stop is False
    assert built.report(owner, "asha", bad, [(2, rung1)]).stop is False
    assert built.states.full_reads(exp.id, exp.created_at) == 1
    assert fed.summary(owner, "asha")["rungs"] == built.summary(owner, "asha")["rungs"]
    # A second re-run that does worse than the others at rung 1 is stopped again, by either process.
    _put(first, owner, bad, "QUEUED", {})
    assert Claims(second).claim(owner, "asha", worker="w", heartbeat=30.0) is not None
    assert built.report(owner, "asha", bad, [(1, dumps({"loss": 50.0}))]).stop is True
    with first.read() as conn:
        earlier = store_attempts.of_job(conn, again.pk)
    assert [(a.attempt, a.status) for a in earlier] == [(1, "PRUNED"), (2, "RUNNING")]
