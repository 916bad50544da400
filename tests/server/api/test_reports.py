"""Intermediate reports and early stopping, through the client and the real service (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

import schedy
from schedy import errors, pbt
from schedy.random import Uniform
from schedy.server.stopping import ASHA as ServerASHA
from schedy.server.stopping import Report
from schedy.stopping import ASHA, Median
from schedy.testing import ServiceProcess

SPACE = {"x": Uniform(0, 1)}


@pytest.fixture
def db(service: Any):
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


def _session(service: Any) -> httpx.Client:
    token = httpx.post(service.url + "token/", json={"email": service.email, "token": service.api_token}).json()
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token['token']}"}, timeout=30)


def test_reports_are_kept_in_order_renew_the_lease_and_never_stop_without_a_policy(db):
    exp = schedy.RandomSearch("plain", SPACE)
    db.add_experiment(exp)
    with exp.next_job() as job:
        first_lease = job.lease_expires_at
        time.sleep(1.1)  # a report renews a lease renewed more than a second ago (store/reports.py: RENEW_SLACK)
        stops = [job.report(step, loss=1 / (step + 1), acc=None) for step in range(5)]
        assert job.report(5, loss=math.nan) is False
        assert job.lease_expires_at is not None
        assert first_lease is not None
        assert job.lease_expires_at > first_lease
        job.results["loss"] = 0.2
    assert stops == [False] * 5
    reports = exp.get_job(job.job_id).reports()
    assert [r["step"] for r in reports] == [0, 1, 2, 3, 4, 5]
    assert reports[1]["metrics"] == {"loss": 0.5, "acc": None}
    assert math.isnan(reports[5]["metrics"]["loss"])
    assert reports[0]["time"] <= reports[5]["time"]
    # The results are not grown by reports.
    assert exp.get_job(job.job_id).results == {"loss": 0.2}


def test_a_pruned_job_ends_pruned_keeps_its_results_and_the_loop_goes_on(db):
    exp = schedy.RandomSearch("pruned", SPACE, early_stopping=Median("loss", "min", min_jobs=1))
    db.add_experiment(exp)
    with exp.next_job() as good:
        for step in range(3):
            assert not good.report(step, loss=0.1)
        good.results["loss"] = 0.1
    seen = []
    for job in exp.jobs():
        seen.append(job.job_id)
        with job:
            job.results["partial"] = 42
            if job.report(0, loss=9.0):
                raise errors.JobPruned()
        if len(seen) == 2:
            break
    first = exp.get_job(seen[0])
    assert first.status == schedy.Job.PRUNED
    assert first.results == {"partial": 42, "loss": 9.0}  # and the policy's metric as last reported
    assert [r["metrics"]["loss"] for r in first.reports()] == [9.0]
    assert first.stop_reason is not None
    assert "median" in first.stop_reason
    assert exp.get_job(good.job_id).stop_reason is None
    assert exp.get_job(seen[1]).status == schedy.Job.PRUNED  # the loop went on to the next job
    assert exp.early_stopping == Median("loss", "min", min_jobs=1)
    assert db.get_experiment("pruned").early_stopping == Median("loss", "min", min_jobs=1)


@pytest.mark.parametrize("compare", ["average", "value"])
def test_the_median_rule_compares_with_the_others_averages_or_their_values_as_declared(db, compare):
    """Three improving jobs: at step 1 their values are 1, 2, 3 (median 2), their running averages 1.5, 2.5, 3.5."""
    exp = schedy.RandomSearch(f"median-{compare}", SPACE, early_stopping=Median("loss", "min", 0, 3, compare))
    db.add_experiment(exp)
    for curve in ([2.0, 1.0], [3.0, 2.0], [4.0, 3.0]):
        with exp.next_job() as job:
            assert [job.report(step, loss=value) for step, value in enumerate(curve)] == [False, False]
    assert db.get_experiment(exp.name).early_stopping == Median("loss", "min", 0, 3, compare)
    with exp.next_job() as job:
        assert not job.report(0, loss=2.3)
        # Its best, 2.3 at step 1: within the averages' median (2.5), past the values' (2).
        assert job.report(1, loss=2.3) is (compare == "value")
        if job.stop_reason is not None:
            assert job.stop_reason == "At step 1 its best loss was worse than the median of 3 other jobs' values."
            raise errors.JobPruned()
    assert exp.get_job(job.job_id).status == ("PRUNED" if compare == "value" else "DONE")


def test_once_told_to_stop_a_job_is_told_so_again_even_if_its_values_recover(db):
    exp = schedy.RandomSearch("sticky", SPACE, early_stopping=ASHA("acc", "max", min_step=1, reduction_factor=2))
    db.add_experiment(exp)
    with exp.next_job() as best:
        assert not best.report(1, acc=0.9)
    with exp.next_job() as worse:
        assert worse.stop_reason is None
        assert worse.report(1, acc=0.1)
        assert worse.stop_reason == exp.get_job(worse.job_id).stop_reason  # the reason, from the answer
        assert "At rung 1 its acc was not among the best" in worse.stop_reason
        assert worse.report(2, acc=0.99)  # the decision stands
    assert exp.get_job(worse.job_id).status == schedy.Job.DONE  # the worker chose to finish: its call


def test_a_job_told_to_stop_whose_worker_vanishes_ends_pruned_with_its_last_loss_and_is_not_retried(service):
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=1.0) as db:
        exp = schedy.RandomSearch("vanish", SPACE, early_stopping=ASHA("loss", "min"))
        exp.extra["maxRetries"] = 3
        db.add_experiment(exp)
        with exp.next_job() as job:
            assert not job.report(1, loss=0.1)
        told = exp.next_job()
        assert told.report(1, loss=5.0)
        assert told.report(2, seconds=3.0)  # a later report without the policy's metric
        told_id = told.job_id
        del told  # the worker vanishes: nothing beats for the job any more
        deadline = time.monotonic() + 30
        while exp.get_job(told_id).status == schedy.Job.RUNNING:
            assert time.monotonic() < deadline, "the lease never lapsed"
            time.sleep(0.2)
        ended = exp.get_job(told_id)
        assert ended.status == schedy.Job.PRUNED
        assert ended.end_reason == "pruned"
        assert ended.results == {"loss": 5.0}  # ranked by its last reported loss, as if its worker had ended it
        statuses = Counter(j.status for j in exp.all_jobs())
        assert statuses == {"DONE": 1, "PRUNED": 1}  # no retry queued


def test_sixteen_workers_on_the_same_rungs_keep_about_one_in_eta(service):
    eta, jobs_total = 3, 96
    name = "asha-16"
    with schedy.SchedyDB(config_override=service.client_config) as db:
        db.add_experiment(schedy.RandomSearch(name, SPACE, early_stopping=ASHA("loss", "min", 1, eta, 9)))
    verdicts: list[tuple[str, int, float, bool]] = []
    lock = threading.Lock()
    budget = iter(range(jobs_total))

    def worker() -> None:
        with schedy.SchedyDB(config_override=service.client_config) as own:
            exp = own.get_experiment(name)
            while True:
                with lock:
                    if next(budget, None) is None:
                        return
                with exp.next_job() as job:
                    x = job.hyperparameters["x"]
                    for step in (1, 3, 9):
                        loss = x + 1 / step  # a job's rank is the same at every rung
                        stop = job.report(step, loss=loss)
                        with lock:
                            verdicts.append((job.job_id, step, loss, stop))
                        if stop:
                            raise errors.JobPruned()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    with schedy.SchedyDB(config_override=service.client_config) as db:
        statuses = Counter(j.status for j in db.get_experiment(name).all_jobs())
    assert sum(statuses.values()) == jobs_total
    assert set(statuses) <= {"DONE", "PRUNED"}
    reached = Counter(step for _job, step, _loss, _stop in verdicts)
    assert reached[1] == jobs_total
    # 1/η of the jobs continue past each rung, give or take the asynchronous slack: early
    # arrivals compete with few jobs, and reports in flight at once may not see each other.
    assert reached[3] <= jobs_total / eta * 1.9
    # How many continue depends on the order the values arrive in (over 2,000 random orders of
    # 96 jobs, the rule alone keeps fewer than 0.8·N/η in 7 % of them): the service keeps what
    # the rule keeps on the order its answers came back in, give or take the 16 in flight.
    rule = ServerASHA("loss", "min", min_step=1, reduction_factor=eta, max_step=9)
    state = rule.new_state()
    ruled = sum(
        not rule.observe(state, Report(job_id, step, loss)).stop for job_id, step, loss, _stop in verdicts if step == 1
    )
    assert abs(reached[3] - ruled) <= 16, (reached[3], ruled)
    assert reached[3] >= jobs_total / eta * 0.4
    assert reached[9] <= reached[3] / eta * 2.2
    # No job survived a rung with a value worse than every value that was stopped there.
    for step in (1, 3):
        kept = [loss for _j, s, loss, stop in verdicts if s == step and not stop]
        stopped = [loss for _j, s, loss, stop in verdicts if s == step and stop]
        assert min(kept) <= min(stopped)
    # The summary the dashboard draws counts, rung by rung, the jobs that reached it and those told to go on:
    # the verdicts the 16 workers were given, the last rung's (3) too.
    with _session(service) as http:
        summary = http.get(f"experiments/{name}/stopping/").json()
    told = {step: Counter(stop for _j, s, _loss, stop in verdicts if s == step) for step in (1, 3)}
    assert [(r["step"], r["jobs"], r["continued"]) for r in summary["rungs"]] == [
        (step, told[step][True] + told[step][False], told[step][False]) for step in (1, 3)
    ]


def test_two_service_processes_share_one_decision_per_report(service, tmp_path):
    """Reports alternate between two processes on one database: each sees the other's reports."""
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    try:
        config = dict(service.client_config)
        other = {**config, "root": second.url}
        with schedy.SchedyDB(config_override=config) as one, schedy.SchedyDB(config_override=other) as two:
            one.add_experiment(schedy.RandomSearch("shared", SPACE, early_stopping=ASHA("loss", "min", 1, 2)))
            a, b = one.get_experiment("shared"), two.get_experiment("shared")
            with a.next_job() as best:
                assert not best.report(1, loss=0.1)
            # Seen by the second process although reported to the first.
            with b.next_job() as worse:
                assert worse.report(1, loss=0.5)
                raise errors.JobPruned()
    finally:
        second.stop()


def test_reports_alternating_between_two_processes_get_the_rules_exact_decisions(service, tmp_path):
    """Each process, its state already built, learns the other's reports before deciding on its own.

    The reports are sent one at a time, so every decision must be the rule's on everything sent before.
    """
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    try:
        config = dict(service.client_config)
        other = {**config, "root": second.url}
        rng = random.Random(7)
        rule = ServerASHA("loss", "min", min_step=1, reduction_factor=2, max_step=4)
        state = rule.new_state()
        mismatches = []
        with schedy.SchedyDB(config_override=config) as one, schedy.SchedyDB(config_override=other) as two:
            one.add_experiment(schedy.RandomSearch("alternate", SPACE, early_stopping=ASHA("loss", "min", 1, 2, 4)))
            experiments = [one.get_experiment("alternate"), two.get_experiment("alternate")]
            for n in range(24):
                with experiments[n % 2].next_job() as job:
                    for step in (1, 2):
                        loss = rng.random()
                        expected = rule.observe(state, Report(job.job_id, step, loss)).stop
                        stopped = job.report(step, loss=loss)
                        if stopped != expected:
                            mismatches.append((n, step, stopped))
                        if stopped:
                            raise errors.JobPruned()
        assert mismatches == []
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"step": -1, "metrics": {"loss": 1}}, "non-negative integer"),
        ({"step": "3", "metrics": {"loss": 1}}, "non-negative integer"),
        ({"step": 1.5}, "non-negative integer"),
        ({"step": True}, "non-negative integer"),
        ({"step": 1, "metrics": {"loss": "low"}}, "must be a number"),
        ({"step": 1, "metrics": {"loss": [1]}}, "must be a number"),
        ({"step": 1, "metrics": [1]}, "object of names"),
        ({"step": 1, "extra": 1}, "no other field"),
        ({"reports": []}, "not empty"),
        ({"reports": [{"step": i} for i in range(1001)]}, "At most 1000"),
        ([1, 2], "Send a report"),
    ],
)
def test_bad_reports_get_a_sentence_and_change_nothing(service, db, body, words):
    exp = schedy.RandomSearch("bad", SPACE)
    db.add_experiment(exp)
    job = exp.next_job()
    with _session(service) as api:
        answer = api.post(f"experiments/bad/jobs/{job.job_id}/reports/", json=body)
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["detail"]
        assert api.get(f"experiments/bad/jobs/{job.job_id}/reports/").json()["items"] == []


def test_a_report_after_the_end_says_stop_and_warns_with_the_jobs_status(db, caplog):
    exp = schedy.RandomSearch("ended", SPACE)
    db.add_experiment(exp)
    with exp.next_job() as job:
        assert job.report(1, loss=0.5) is False
    with caplog.at_level(logging.WARNING, logger="schedy"):
        assert job.report(2, loss=0.4) is True  # whatever it does next would be refused
        assert job.report(3, loss=0.3) is True
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per job
    assert "has ended DONE, so it is no longer RUNNING" in warnings[0]
    assert "lease" not in warnings[0]  # it did not lapse: the worker ended it
    assert [r["step"] for r in job.reports()] == [1]


def test_reports_on_finished_missing_or_foreign_jobs_are_refused(service, db):
    exp = schedy.RandomSearch("finished", SPACE)
    db.add_experiment(exp)
    with exp.next_job() as job:
        pass
    with _session(service) as api:
        late = api.post(f"experiments/finished/jobs/{job.job_id}/reports/", json={"step": 1})
        assert late.status_code == 412
        assert (
            late.json()["detail"]
            == f"Job '{job.job_id}' has ended DONE, so it is no longer RUNNING; its reports are refused."
        )
        queued = exp.add_job(hyperparameters={"x": 0.5})
        early = api.post(f"experiments/finished/jobs/{queued.job_id}/reports/", json={"step": 1})
        assert early.status_code == 412
        assert "is QUEUED, not RUNNING" in early.json()["detail"]
        assert api.post("experiments/finished/jobs/nope/reports/", json={"step": 1}).status_code == 404
    running = exp.next_job()
    other = service.new_user()
    token = httpx.post(service.url + "token/", json={"email": other.email, "token": other.api_token}).json()["token"]
    foreign = httpx.post(
        service.url + f"experiments/finished/jobs/{running.job_id}/reports/",
        json={"step": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert foreign.status_code == 404
    assert running.reports() == []
    # The client refuses bad steps and metrics before sending anything.
    with pytest.raises(ValueError, match="non-negative integer"):
        running.report(-1, loss=1.0)
    with pytest.raises(ValueError, match="must be a number"):
        running.report(1, loss="low")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ({"asha": {"resultName": "loss"}}, '"min" or "max"'),
        ({"median": {"resultName": "loss", "objective": "min", "minJobs": 0}}, "minJobs"),
        ({"nope": {}}, "Unknown early-stopping policy"),
    ],
)
def test_bad_policies_are_refused_at_creation(service, policy, words):
    with _session(service) as api:
        answer = api.put(
            "experiments/bad-policy/",
            json={"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}, "earlyStopping": policy},
        )
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["detail"]
        assert api.get("experiments/bad-policy/").status_code == 404


def test_a_policy_ranking_the_searchs_objective_the_other_way_is_refused(db):
    exp = schedy.PopulationBasedTraining(
        "pbt-stop",
        pbt.MAXIMIZE,
        "acc",
        pbt.Truncate(0.2),
        explore={"x": pbt.Perturb()},
        initial_distributions={"x": Uniform(0, 1)},
        population_size=4,
        max_generations=3,
        early_stopping=ASHA("acc", "min"),
    )
    with pytest.raises(errors.ClientRequestError, match="maximises"):
        db.add_experiment(exp)
    exp.early_stopping = ASHA("acc", "max")
    db.add_experiment(exp)
    assert db.get_experiment("pbt-stop").early_stopping == ASHA("acc", "max")


def test_the_experiments_reports_page_through_in_order(db):
    exp = schedy.RandomSearch("paged", SPACE)
    db.add_experiment(exp)
    rng = random.Random(1)
    expected = []
    for _ in range(3):
        with exp.next_job() as job:
            for step in range(4):
                value = rng.random()
                job.report(step, loss=value)
                expected.append((job.job_id, step, value))
    from schedy._pagination import iter_items

    items = list(iter_items(db._transport, "experiments/paged/reports/", page_size=5))
    assert [(i["job"], i["step"], i["metrics"]["loss"]) for i in items] == expected
