"""A budget for an experiment (``maxJobs``) and worker loops that end when nothing is left (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import pytest

import schedy
from schedy.random import Uniform
from schedy.testing import ServiceProcess

SPACE = {"x": Uniform(0, 1)}


def _loop(config: dict[str, str], name: str, done: list[str], errors: list[BaseException]) -> None:
    try:
        with schedy.SchedyDB(config_override=config) as db:
            for job in db.get_experiment(name).jobs(wait=1.0):
                with job:
                    job.results["loss"] = job.hyperparameters.get("x", 0)
                done.append(job.job_id)
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def _run_workers(configs: list[dict[str, str]], name: str) -> list[str]:
    done: list[str] = []
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_loop, args=(c, name, done, errors)) for c in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a worker loop never ended"
    assert not errors, errors
    return done


def test_workers_stop_when_the_budget_is_spent(service):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        db.add_experiment(schedy.RandomSearch("budget", SPACE, max_jobs=12))
        assert db.get_experiment("budget").max_jobs == 12
    done = _run_workers([service.client_config] * 6, "budget")
    assert len(done) == len(set(done)) == 12
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = db.get_experiment("budget")
        assert exp.status == schedy.Experiment.DONE
        assert Counter(j.status for j in exp.all_jobs()) == {"DONE": 12}


def test_two_service_processes_share_one_budget(service, tmp_path):
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    try:
        other = {**service.client_config, "root": second.url}
        with schedy.SchedyDB(config_override=service.client_config) as db:
            db.add_experiment(schedy.RandomSearch("shared-budget", SPACE, max_jobs=20))
        done = _run_workers([service.client_config, other] * 4, "shared-budget")
    finally:
        second.stop()
    assert len(done) == len(set(done)) == 20


def test_queued_jobs_still_run_after_the_budget_and_hand_added_ones_do_not_count(service):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = schedy.RandomSearch("queued-budget", SPACE, max_jobs=2)
        db.add_experiment(exp)
        for x in (0.1, 0.2, 0.3):
            exp.add_job(hyperparameters={"x": x})
    done = _run_workers([service.client_config] * 2, "queued-budget")
    assert len(done) == 5  # three by hand, two created by the search


def test_counts_say_how_many_jobs_the_search_created_which_is_what_the_budget_counts(service):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        db.add_experiment(schedy.RandomSearch("created", SPACE, max_jobs=3))
        exp = db.get_experiment("created")
        exp.add_job(hyperparameters={"x": 0.5}, status="DONE")  # by hand: not counted
        for _ in range(2):
            with exp.next_job():
                pass
    with httpx.Client(base_url=service.url, timeout=30) as http:
        jwt = http.post("token/", json={"email": service.email, "token": service.api_token}).json()["token"]
        http.headers["Authorization"] = f"Bearer {jwt}"
        read = http.get("experiments/created/?counts=true").json()
        assert (read["jobsCreated"], sum(read["jobCounts"].values())) == (2, 3)
        assert "jobsCreated" not in http.get("experiments/created/").json()
        # Sent back with the rest of what was read, it is ignored, as jobCounts is.
        again = http.put("experiments/created/", json=read)
        assert again.status_code == 200, again.text
        assert http.get("experiments/created/?counts=true").json()["jobsCreated"] == 2


def test_a_manual_search_loop_ends_when_nothing_is_queued_or_running(service):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = schedy.ManualSearch("queue")
        db.add_experiment(exp)
        for x in range(4):
            exp.add_job(hyperparameters={"x": x})
    done = _run_workers([service.client_config] * 3, "queue")
    assert len(done) == 4
    with schedy.SchedyDB(config_override=service.client_config) as db:
        assert db.get_experiment("queue").status == schedy.Experiment.RUNNING  # not DONE: more may be added


def test_a_manual_search_loop_waits_while_a_job_runs_elsewhere(service):
    with schedy.SchedyDB(config_override=service.client_config) as db:
        exp = schedy.ManualSearch("waiting")
        db.add_experiment(exp)
        exp.add_job(hyperparameters={"x": 1})
        held = exp.next_job()  # RUNNING with another worker: the loop must not end
        seen: list[str] = []

        def late() -> None:
            for job in db.get_experiment("waiting").jobs(wait=0.5, idle_timeout=3.0):
                seen.append(job.job_id)
                with job:
                    pass

        thread = threading.Thread(target=late)
        thread.start()
        thread.join(1.5)
        assert thread.is_alive(), "the loop ended while a job was RUNNING"
        exp.add_job(hyperparameters={"x": 2})
        with held:
            pass
        thread.join(30)
        assert not thread.is_alive()
        assert len(seen) == 1


@pytest.mark.parametrize("value", [0, -3, 1.5, "10", True, 2**40])
def test_a_bad_budget_is_refused_with_a_sentence(service, value: Any):
    token = httpx.post(service.url + "token/", json={"email": service.email, "token": service.api_token}).json()
    answer = httpx.put(
        service.url + "experiments/bad-budget/",
        json={"scheduler": {"Manual": None}, "maxJobs": value},
        headers={"Authorization": f"Bearer {token['token']}"},
    )
    assert answer.status_code == 422
    assert "maxJobs" in answer.json()["detail"]
    with pytest.raises(schedy.errors.DefinitionError):
        schedy.ManualSearch("x", max_jobs=value)


def test_options_left_out_of_a_put_are_kept_and_null_unsets_them(service):
    token = httpx.post(service.url + "token/", json={"email": service.email, "token": service.api_token}).json()
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token['token']}"}) as http:
        options = {"seed": 5, "maxRetries": 2, "maxRunTime": 60, "maxJobs": 9,
                   "earlyStopping": {"median": {"resultName": "loss", "objective": "min"}}}  # fmt: skip
        assert http.put("experiments/opts/", json={"scheduler": {"Manual": None}, **options}).status_code == 201
        # The 2018 client knows no option and sends none: they stay.
        assert http.put("experiments/opts/", json={"scheduler": {"Manual": None}, "status": "DONE"}).status_code == 200
        kept = http.get("experiments/opts/").json()
        assert {key: kept[key] for key in ("seed", "maxRetries", "maxRunTime", "maxJobs")} == {
            "seed": 5, "maxRetries": 2, "maxRunTime": 60, "maxJobs": 9}  # fmt: skip
        assert "median" in kept["earlyStopping"]
        unset = dict.fromkeys(options)
        assert http.put("experiments/opts/", json={"scheduler": {"Manual": None}, **unset}).status_code == 200
        read = http.get("experiments/opts/").json()
        assert not set(options) & set(read), read  # unset: gone, not kept as null
        with schedy.SchedyDB(config_override=service.client_config) as db:
            exp = db.get_experiment("opts")
            assert (exp.seed, exp.max_retries, exp.max_run_time, exp.max_jobs, exp.early_stopping) == (None,) * 5
            exp.max_retries = 1
            exp.push_updates()
            exp.max_retries = None  # the client sends null for an option set to None
            exp.seed = 8
            exp.push_updates()
            back = db.get_experiment("opts")
            assert (back.seed, back.max_retries) == (8, None)


def test_the_budget_and_the_job_it_pays_for_are_committed_together(service, tmp_path):
    """Read at any moment, every job the budget counts exists, and a DONE search has nothing running.

    On PostgreSQL a claim took the budget in one commit and inserted the job in the next: a reader in
    between saw the budget spent with the job nowhere (``schedy watch --until-done`` stopped while the
    last job ran, seen on CI), a claim in between ended the search while that job was about to start,
    and a service stopped in between left the search one job short for ever.
    """
    second = ServiceProcess.start(tmp_path / "second", service.process.database_url)
    try:
        other = {**service.client_config, "root": second.url}
        with schedy.SchedyDB(config_override=service.client_config) as db:
            db.add_experiment(schedy.RandomSearch("together", SPACE, max_jobs=400))
        seen: list[tuple[str, int, dict[str, int]]] = []
        stop = threading.Event()

        def read() -> None:
            token = httpx.post(
                service.url + "token/", json={"email": service.email, "token": service.api_token}, timeout=30
            )
            headers = {"Authorization": f"Bearer {token.json()['token']}"}
            with httpx.Client(base_url=service.url, headers=headers, timeout=30) as http:
                while not stop.is_set():
                    got = http.get("experiments/together/?counts=true").json()
                    seen.append((got["status"], got["jobsCreated"], got["jobCounts"]))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            done = _run_workers([service.client_config, other] * 3, "together")
        finally:
            stop.set()
            reader.join(30)
    finally:
        second.stop()
    assert len(done) == len(set(done)) == 400
    during = [created for _, created, _ in seen if 0 < created < 400]
    assert len(during) >= 10, seen  # reads went on while the workers claimed
    short = [(created, counts) for _, created, counts in seen if sum(counts.values()) < created]
    assert not short, f"{len(short)} of {len(seen)} reads counted jobs that did not exist, e.g. {short[:3]}"
    early = [
        counts for status, _, counts in seen if status == "DONE" and (counts.get("RUNNING") or counts.get("QUEUED"))
    ]
    assert not early, f"the search was DONE with jobs still to run: {early[:3]}"


def test_a_budget_set_on_a_search_that_already_ran_counts_the_jobs_it_created(api) -> None:
    # `schedy set --max-jobs 6` on a search that created 5 jobs: one more, not 6 more. Jobs added by
    # hand (queued, or finished as an import adds them) are not the search's and take nothing.
    scheduler = {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}
    path = api.create_experiment("later", scheduler)

    def finish(job: dict[str, Any]) -> None:
        done = {"status": "DONE", "hyperparameters": job["hyperparameters"], "results": {"loss": 0}}
        assert api.request("PUT", f"{path}jobs/{job['id']}/", done).status_code == 200

    def claim() -> dict[str, Any] | None:
        answer = api.request("POST", path + "nextjob/", {"worker": "w"})
        assert answer.status_code in (200, 204), answer.text
        return answer.json() if answer.status_code == 200 else None

    for _ in range(5):
        job = claim()
        assert job is not None
        finish(job)
    for x in (0.1, 0.2):
        assert api.add_job("later", status="QUEUED", hyperparameters={"x": x}).status_code == 201
        queued = claim()
        assert queued is not None
        assert queued["hyperparameters"] == {"x": x}
        finish(queued)
    imported = {"status": "DONE", "hyperparameters": {"x": 0.3}, "results": {"loss": 1}}
    assert api.add_job("later", **imported).status_code == 201
    # Added RUNNING (`schedy push -s RUNNING`, the 0.1.0b6 client's add_job then `with job`), then finished:
    # started when created, as a claim's job is, and still not the search's.
    running = api.add_job("later", status="RUNNING", hyperparameters={"x": 0.4})
    assert running.status_code == 201, running.text
    finish(running.json())
    assert api.http.get(path, params={"counts": "true"}).json()["jobsCreated"] == 5

    answer = api.request("PUT", path, {"status": "RUNNING", "scheduler": scheduler, "maxJobs": 6})
    assert answer.status_code == 200, answer.text
    made = []
    while (job := claim()) is not None:
        made.append(job)
        finish(job)
    assert len(made) == 1
    final = api.http.get(path, params={"counts": "true"}).json()
    assert final["jobsCreated"] == 6
    assert final["jobCounts"] == {"DONE": 10}
    assert final["status"] == "DONE"
