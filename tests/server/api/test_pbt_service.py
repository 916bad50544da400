"""PBT through the real service: real workers, both backends (rules as numbered in docs/pbt.md).

The decision logic is tested without a database in
``tests/server/schedulers/test_pbt.py``. Here the same rules are checked
end to end: workers (separate processes where it matters) claim jobs with
our client, train the toy problem of PBT.md one interval per job, with θ
travelling in ``job.results`` like a checkpoint, and the population that
the service recorded is checked afterwards: budget, lineage, exploit
events, one job in flight per member, failures, hand-added jobs,
reproducibility and concurrency over two service processes.
"""

from __future__ import annotations

import copy
import itertools
import json
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy import pbt
from schedy.errors import NoJobError
from schedy.random import Uniform
from schedy.testing import ServiceProcess
from tests.server.conftest import Api

Record = dict[str, Any]


# -- the toy problem and its workers ---------------------------------------------------


def train_toy(hyperparameters: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """One interval of PBT.md's toy problem, from the "checkpoint" θ in ``results``.

    ``steps`` counts the intervals behind the model: it must equal the job's
    generation if every job started from its parent's results.
    """
    theta0, theta1 = results.get("theta", [0.9, 0.9])
    h0, h1 = hyperparameters["h0"], hyperparameters["h1"]
    for _ in range(4):
        theta0, theta1 = theta0 - 0.01 * 2 * h0 * theta0, theta1 - 0.01 * 2 * h1 * theta1
    return {"theta": [theta0, theta1], "Q": 1.2 - (theta0**2 + theta1**2), "steps": results.get("steps", 0) + 1}


def toy_experiment(
    name: str, *, population: int, generations: int, seed: int | None = None
) -> schedy.PopulationBasedTraining:
    exp = schedy.PopulationBasedTraining(
        name,
        pbt.MAXIMIZE,
        "Q",
        pbt.Truncate(0.2),
        explore={"h0": pbt.Perturb(0.8, 1.2), "h1": pbt.Perturb(0.8, 1.2)},
        initial_distributions={"h0": Uniform(0, 1), "h1": Uniform(0, 1)},
        population_size=population,
        max_generations=generations,
    )
    if seed is not None:
        exp.extra["seed"] = seed
    return exp


def record(job: schedy.Job, worker: str) -> Record:
    """What a worker saw when it got ``job``."""
    return {
        "id": job.id,
        "worker": worker,
        "member": job.member,
        "generation": job.generation,
        "parent": job.parent,
        "attempt": job.attempt,
        "hyperparameters": copy.deepcopy(job.hyperparameters),
        "results": copy.deepcopy(job.results),
    }


class Crash(Exception):
    """Raised inside ``with job:`` to make a job CRASHED."""


def work(
    config: dict[str, str],
    name: str,
    worker: str,
    *,
    jitter: float = 0.0,
    wait: float = 1.0,
) -> list[Record]:
    """A worker: claim, train one interval, finish, until the experiment is DONE."""
    rng = random.Random(worker)
    records: list[Record] = []
    with schedy.SchedyDB(config_override=config, worker=worker, heartbeat=0) as db:
        exp = db.get_experiment(name)
        for job in exp.jobs(wait=wait, idle_timeout=120):
            records.append(record(job, worker))
            with job:
                if jitter:
                    time.sleep(rng.uniform(0, jitter))
                job.results.update(train_toy(job.hyperparameters, job.results))
    return records


def work_in_process(config: dict[str, str], name: str, worker: str, out: str, jitter: float) -> None:
    """:func:`work` in a worker process; its records go to the file ``out``."""
    Path(out).write_text(json.dumps(work(config, name, worker, jitter=jitter)))


def run_worker_processes(configs: list[dict[str, str]], name: str, tmp_path: Path, jitter: float) -> list[Record]:
    """One worker process per configuration, all on ``name``, until it is DONE."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
    outs = [tmp_path / f"worker-{i}.json" for i in range(len(configs))]
    processes = [
        context.Process(target=work_in_process, args=(config, name, f"w{i}", str(out), jitter))
        for i, (config, out) in enumerate(zip(configs, outs, strict=True))
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(240)
    for process in processes:
        if process.exitcode is None:  # hung: never leave it behind
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * len(processes), "a worker process failed or hung"
    return [r for out in outs for r in json.loads(out.read_text())]


def run_worker_threads(config: dict[str, str], name: str, workers: int, **options: Any) -> list[Record]:
    results: list[list[Record]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(config, name, f"t{i}", **options)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    assert errors == []
    return [r for rs in results for r in rs]


# -- checks on what the service recorded ---------------------------------------------


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def by_member(jobs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:  # oldest first
        members[job["member"] or job["id"]].append(job)
    return members


def assert_one_job_in_flight_per_member(jobs: list[dict[str, Any]]) -> None:
    """Rule 3: a member's next job is created only after its previous one ended."""
    for member, own in by_member(jobs).items():
        own = sorted(own, key=lambda j: when(j["createdAt"]))
        for before, after in itertools.pairwise(own):
            assert before["finishedAt"] is not None, f"{member}: {before['id']} never ended"
            assert when(after["createdAt"]) >= when(before["finishedAt"]), (
                f"member {member} had two jobs in flight: {before['id']} and {after['id']}"
            )


def assert_lineage_is_consistent(jobs: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Parents are DONE jobs one generation back; cross-member parents are exactly the exploit events."""
    by_id = {job["id"]: job for job in jobs}
    exploits = set()
    for job in jobs:
        if job["parent"] is None:
            assert job["generation"] in (None, 1), job
            continue
        parent = by_id[job["parent"]]
        assert parent["status"] == "DONE"
        assert (parent["generation"] or 1) == job["generation"] - 1, (parent, job)
        if (parent["member"] or parent["id"]) == job["member"]:
            assert job["hyperparameters"] == parent["hyperparameters"]  # rule 8: a continuation changes nothing
        else:
            exploits.add((job["member"], parent["id"], parent["member"] or parent["id"], job["generation"]))
    recorded = [e for e in events if e["kind"] == "exploit"]
    assert {(e["member"], e["sourceJob"], e["sourceMember"], e["generation"]) for e in recorded} == exploits
    assert len(recorded) == len(exploits)


def assert_workers_started_from_the_parents_results(records: list[Record], jobs: list[dict[str, Any]]) -> None:
    """Each job was handed out with a copy of its parent's final results (none for a new member)."""
    by_id = {job["id"]: job for job in jobs}
    for seen in records:
        parent = by_id.get(seen["parent"]) if seen["parent"] else None
        assert seen["results"] == ({} if parent is None else parent["results"]), seen
    for job in jobs:
        if job["status"] == "DONE":
            assert job["results"]["steps"] == (job["generation"] or 1)  # the checkpoint travelled intact


def assert_finished(api: Api, name: str, population: int, generations: int) -> list[dict[str, Any]]:
    """Rule 9: every member reached maxGenerations, the experiment is DONE and nextjob answers 204."""
    jobs = api.all_jobs(name)
    members = by_member(jobs)
    assert len(members) == population
    for member, own in members.items():
        done = [j for j in own if j["status"] == "DONE"]
        assert max(j["generation"] or 1 for j in done) == generations, member
        assert all((j["generation"] or 1) <= generations for j in own)
    assert api.http.get(f"experiments/{name}/").json()["status"] == "DONE"
    assert api.http.post(f"experiments/{name}/nextjob/").status_code == 204
    assert api.http.get(f"experiments/{name}/nextjob/").status_code == 204
    return jobs


def events_of(api: Api, name: str) -> list[dict[str, Any]]:
    answer = api.http.get(f"experiments/{name}/events/", params={"limit": 1000})
    assert answer.status_code == 200
    assert answer.json()["next"] is None
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def drive(exp: schedy.Experiment, crash: Callable[[schedy.Job], bool] | None = None) -> list[Record]:
    """One sequential worker in the test process, until nothing is handed out."""
    records: list[Record] = []
    while True:
        try:
            job = exp.next_job()
        except NoJobError:
            return records
        records.append(record(job, "main"))
        try:
            with job:
                if crash is not None and crash(job):
                    job.results["steps"] = -1  # half-written results: a retry must not start from them
                    raise Crash
                job.results.update(train_toy(job.hyperparameters, job.results))
        except Crash:
            pass


@pytest.fixture
def db(service: Any) -> Iterator[schedy.SchedyDB]:
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as database:
        yield database


# -- real worker processes ------------------------------------------------------------


def test_worker_processes_drive_a_population_to_the_end(
    service: Any, api: Api, db: schedy.SchedyDB, tmp_path: Path
) -> None:
    population, generations = 6, 5
    db.add_experiment(toy_experiment("toy", population=population, generations=generations))
    records = run_worker_processes([service.client_config] * 4, "toy", tmp_path, jitter=0.01)

    jobs = assert_finished(api, "toy", population, generations)
    assert len(jobs) <= population * generations  # rule 9: the budget, nothing failed
    assert Counter(j["status"] for j in jobs) == {"DONE": len(jobs)}
    assert sorted(r["id"] for r in records) == sorted(j["id"] for j in jobs)  # each handed out once
    assert len({r["worker"] for r in records}) > 1
    assert sorted(by_member(jobs)) == [f"m{i}" for i in range(population)]
    events = events_of(api, "toy")
    assert any(e["kind"] == "exploit" for e in events)
    assert_lineage_is_consistent(jobs, events)
    assert_workers_started_from_the_parents_results(records, jobs)
    assert_one_job_in_flight_per_member(jobs)
    initial = [j for j in jobs if j["generation"] == 1 and j["parent"] is None]
    assert all(0 <= j["hyperparameters"][h] < 1 for j in initial for h in ("h0", "h1"))


def test_exploit_copies_hyperparameters_explores_and_is_logged(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("logged", population=5, generations=6, seed=3))
    drive(db.get_experiment("logged"))
    jobs = {j["id"]: j for j in api.all_jobs("logged")}
    exploits = [e for e in events_of(api, "logged") if e["kind"] == "exploit"]
    assert exploits
    for event in exploits:
        (job,) = [j for j in jobs.values() if j["parent"] == event["sourceJob"] and j["member"] == event["member"]]
        source = jobs[event["sourceJob"]]
        assert event["newHyperparameters"] == job["hyperparameters"]
        assert event["forced"] is False
        for h in ("h0", "h1"):  # rule 7: perturbed by a factor in [0.8, 1.2)
            assert 0.8 <= job["hyperparameters"][h] / source["hyperparameters"][h] <= 1.2
        assert job["generation"] == source["generation"] + 1


# -- rule 11: one seeded stream per experiment ------------------------------------------


def test_the_same_seed_gives_the_same_run_with_one_worker(api: Api, db: schedy.SchedyDB) -> None:
    def run(name: str, seed: int) -> tuple[list[Any], list[Any]]:
        db.add_experiment(toy_experiment(name, population=4, generations=5, seed=seed))
        drive(db.get_experiment(name))
        jobs = api.all_jobs(name)
        by_id = {j["id"]: j for j in jobs}
        decisions = [
            (
                j["member"],
                j["generation"],
                j["hyperparameters"],
                None if j["parent"] is None else by_id[j["parent"]]["member"],
            )
            for j in jobs
        ]
        events = [
            {k: v for k, v in e.items() if k not in ("id", "createdAt", "sourceJob")} for e in events_of(api, name)
        ]
        return decisions, events

    first, again, other = run("seven", 7), run("seven-again", 7), run("eight", 8)
    assert first == again
    assert first[1]  # the run exploited: the stream was used past the initial samples
    assert first[0] != other[0]


# -- rule 10: failures -------------------------------------------------------------------


def test_a_crashed_job_is_retried_from_the_same_parent_and_then_reseeded(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("crashing", population=3, generations=4, seed=1))
    exp = db.get_experiment("crashing")

    crashed_ids: list[str] = []

    def m1_fails_three_times(job: schedy.Job) -> bool:
        # m1's second interval fails three times in a row.
        if job.member == "m1" and (job.generation or 1) > 1 and len(crashed_ids) < 3:
            crashed_ids.append(job.id)
            return True
        return False

    records = drive(exp, crash=m1_fails_three_times)

    jobs = api.all_jobs("crashing")
    by_id = {j["id"]: j for j in jobs}
    m1 = [j for j in jobs if j["member"] == "m1"]
    crashed = [j for j in m1 if j["status"] == "CRASHED"]
    assert [j["id"] for j in crashed] == crashed_ids
    assert [j["attempt"] for j in crashed] == [1, 2, 3]
    assert len({(j["parent"], j["generation"], json.dumps(j["hyperparameters"])) for j in crashed}) == 1
    for retry in crashed[1:]:  # results copied from the parent again, never from the failed job
        (seen,) = [r for r in records if r["id"] == retry["id"]]
        assert seen["results"] == by_id[retry["parent"]]["results"]
    # After 3 failures in a row: a forced exploit of a top member, attempt 1 again (rule 10).
    reseeded = m1[m1.index(crashed[-1]) + 1]
    assert reseeded["attempt"] == 1
    assert by_id[reseeded["parent"]]["member"] != "m1"
    forced = [e for e in events_of(api, "crashing") if e["kind"] == "exploit" and e["forced"]]
    assert [(e["member"], e["sourceJob"]) for e in forced] == [("m1", reseeded["parent"])]
    assert_finished(api, "crashing", 3, 4)
    assert len(jobs) <= 3 * 4 + 3
    assert_one_job_in_flight_per_member(jobs)


def test_a_job_whose_lease_lapsed_is_retried_as_the_next_attempt(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("silent", population=1, generations=2))
    # A lease of 1.5 s: the next claim comes well before it lapses, even on a loaded machine.
    first = api.request("POST", "experiments/silent/nextjob/", {"heartbeat": 0.5}).json()
    assert (first["member"], first["generation"], first["attempt"]) == ("m0", 1, 1)
    assert api.http.post("experiments/silent/nextjob/").status_code == 204  # m0 is busy
    deadline = time.monotonic() + 10
    while api.http.get(f"experiments/silent/jobs/{first['id']}/").json()["status"] != "CRASHED":
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.1)
    records = drive(db.get_experiment("silent"))
    retry = records[0]
    assert (retry["member"], retry["generation"], retry["attempt"], retry["parent"]) == ("m0", 1, 2, None)
    assert retry["hyperparameters"] == first["hyperparameters"]
    assert retry["results"] == {}
    assert [r["generation"] for r in records] == [1, 2]
    assert_finished(api, "silent", 1, 2)


def test_a_lapsed_job_retried_by_max_retries_starts_again_from_its_parents_results(
    api: Api, db: schedy.SchedyDB
) -> None:
    exp = toy_experiment("requeued", population=1, generations=3)
    exp.extra["maxRetries"] = 1
    db.add_experiment(exp)
    drive_one = db.get_experiment("requeued")
    with drive_one.next_job() as job:
        job.results.update(train_toy(job.hyperparameters, job.results))
    second = api.request("POST", "experiments/requeued/nextjob/", {"heartbeat": 0.5})  # a lease of 1.5 s
    job = second.json()
    assert job["generation"] == 2
    parent_results = job["results"]
    # The worker saves a half-trained checkpoint, then goes silent.
    half = {**job["results"], "theta": [0.0, 0.0], "steps": -1}
    saved = api.request(
        "PUT",
        f"experiments/requeued/jobs/{job['id']}/",
        {"status": "RUNNING", "hyperparameters": job["hyperparameters"], "results": half},
        headers={"If-Match": second.headers["etag"]},
    )
    assert saved.status_code == 200
    deadline = time.monotonic() + 10
    while api.http.get(f"experiments/requeued/jobs/{job['id']}/").json()["status"] != "CRASHED":
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.1)
    retry = api.http.post("experiments/requeued/nextjob/").json()
    assert (retry["member"], retry["generation"], retry["attempt"]) == ("m0", 2, 2)
    assert retry["results"] == parent_results


# -- rule 1: hand-added jobs ----------------------------------------------------------------


def test_hand_added_jobs_go_first_and_become_members(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("by-hand", population=4, generations=3, seed=2))
    exp = db.get_experiment("by-hand")
    added = [exp.add_job(hyperparameters={"h0": h, "h1": h, "note": "mine"}) for h in (0.9, 0.8)]
    handed = [exp.next_job() for _ in range(2)]
    assert [j.id for j in handed] == [j.id for j in added]
    for job in handed:
        with job:
            job.results.update(train_toy(job.hyperparameters, job.results))
    records = drive(exp)
    # Hand-added members count towards numParallel: two more were sampled, not four.
    sampled = [r for r in records if r["generation"] == 1]
    assert sorted(r["member"] for r in sampled) == ["m0", "m1"]
    jobs = assert_finished(api, "by-hand", 4, 3)
    members = by_member(jobs)
    # Hand-added jobs start members named in order of addition (h0, h1), not after their random ids,
    # so a seeded run decides the same every time; they come back with their member and generation.
    assert [(j.member, j.generation) for j in added] == [("h0", 1), ("h1", 1)]
    for name, job in zip(("h0", "h1"), added, strict=True):
        own = members[name]
        assert own[0]["id"] == job.id
        assert (own[0]["member"], own[0]["generation"]) == (name, 1)
        assert all(j["member"] == name for j in own[1:])
        continued = [j for j in jobs if j["parent"] == job.id and j["member"] == name]
        assert all(j["hyperparameters"]["note"] == "mine" for j in continued)  # other hyperparameters travel along
    assert_lineage_is_consistent(jobs, events_of(api, "by-hand"))


def test_a_job_added_to_a_full_population_is_handed_out_next_and_grows_it(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("grown", population=2, generations=2, seed=4))
    exp = db.get_experiment("grown")
    for _ in range(2):
        with exp.next_job() as job:
            job.results.update(train_toy(job.hyperparameters, job.results))
    late = exp.add_job(hyperparameters={"h0": 0.5, "h1": 0.5})
    with exp.next_job() as job:
        assert job.id == late.id
        job.results.update(train_toy(job.hyperparameters, job.results))
    drive(exp)
    jobs = assert_finished(api, "grown", 3, 2)
    assert late.member == "h0"
    assert len(by_member(jobs)["h0"]) == 2


def test_a_seeded_run_with_hand_added_members_repeats_its_decisions(api: Api, db: schedy.SchedyDB) -> None:
    """Two runs, same seed, same jobs added by hand (which get different random ids): the same search."""
    runs = []
    for name in ("seeded-a", "seeded-b"):
        db.add_experiment(toy_experiment(name, population=4, generations=4, seed=11))
        exp = db.get_experiment(name)
        for h in (0.9, 0.2, 0.5):
            exp.add_job(hyperparameters={"h0": h, "h1": h})
        runs.append([(r["member"], r["generation"], r["hyperparameters"]) for r in drive(exp)])
    assert runs[0] == runs[1]


def test_jobs_added_by_hand_at_once_start_distinct_members(api: Api, db: schedy.SchedyDB) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db.add_experiment(toy_experiment("crowd", population=2, generations=1))
    exp = db.get_experiment("crowd")
    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(lambda i: exp.add_job(hyperparameters={"h0": i / 16, "h1": 0.5}), range(16)))
    assert sorted(job.member for job in added) == sorted(f"h{i}" for i in range(16))
    assert {job.generation for job in added} == {1}


# -- rule 3: more workers than members --------------------------------------------------


def test_a_waiting_worker_gets_the_next_interval_when_a_member_frees_up(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("crowded", population=2, generations=3, seed=5))
    exp = db.get_experiment("crowded")
    first, second = exp.next_job(), exp.next_job()
    answers: list[Any] = []
    wait = 30
    waiter = threading.Thread(
        target=lambda: answers.append(api.request("POST", "experiments/crowded/nextjob/", {"wait": wait}))
    )
    waiter.start()
    time.sleep(1.0)
    assert answers == []  # both members busy: the third worker waits, no error
    with first:
        first.results.update(train_toy(first.hyperparameters, first.results))
    freed = time.monotonic()
    waiter.join(wait)
    # Woken by the freed member, not answered when its wait ran out.
    assert time.monotonic() - freed < wait / 2
    (answer,) = answers
    assert answer.status_code == 200
    assert (answer.json()["member"], answer.json()["generation"]) == (first.member, 2)
    assert answer.json()["parent"] == first.id
    second.status = schedy.Job.CRASHED  # nobody finishes it: it is retried like any failure
    second.put()


def test_more_worker_threads_than_members_all_end_without_error(service: Any, api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("many", population=2, generations=4))
    records = run_worker_threads(service.client_config, "many", workers=5, jitter=0.02)
    jobs = assert_finished(api, "many", 2, 4)
    assert len(records) == len(jobs) <= 8
    assert_one_job_in_flight_per_member(jobs)


# -- concurrency: two service processes, one database ---------------------------------------


@pytest.fixture
def second_server(server: ServiceProcess, tmp_path: Path) -> Iterator[ServiceProcess]:
    """Another service process on the same database as the session's server."""
    process = ServiceProcess.start(tmp_path / "second", server.database_url)
    yield process
    process.stop()


def test_eight_workers_over_two_service_processes_never_run_a_member_twice(
    service: Any, api: Api, db: schedy.SchedyDB, second_server: ServiceProcess, tmp_path: Path
) -> None:
    population, generations = 6, 8
    db.add_experiment(toy_experiment("contended", population=population, generations=generations))
    other = {**service.client_config, "root": second_server.url}
    records = run_worker_processes([service.client_config, other] * 4, "contended", tmp_path, jitter=0.005)

    jobs = assert_finished(api, "contended", population, generations)
    assert Counter(j["status"] for j in jobs) == {"DONE": len(jobs)}
    assert len(jobs) <= population * generations
    assert Counter(r["id"] for r in records) == Counter(j["id"] for j in jobs)  # each handed out exactly once
    for member, own in by_member(jobs).items():
        generations_seen = [j["generation"] for j in own]
        assert generations_seen == sorted(set(generations_seen)), f"{member} repeated a generation"
    assert_one_job_in_flight_per_member(jobs)
    assert_lineage_is_consistent(jobs, events_of(api, "contended"))
    assert_workers_started_from_the_parents_results(records, jobs)


def test_a_waiting_nextjob_answers_at_once_when_the_experiment_ends(api: Api, db: schedy.SchedyDB) -> None:
    db.add_experiment(toy_experiment("ending", population=1, generations=1))
    exp = db.get_experiment("ending")
    with exp.next_job() as job:
        job.results.update(train_toy(job.hyperparameters, job.results))
    wait = 30
    started = time.monotonic()
    answer = api.request("POST", "experiments/ending/nextjob/", {"wait": wait})
    assert answer.status_code == 204
    assert api.http.get("experiments/ending/").json()["status"] == "DONE"
    assert time.monotonic() - started < wait / 2  # at once, not when its wait ran out
