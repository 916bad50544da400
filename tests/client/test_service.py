"""The client against the real service over real HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

import schedy
from schedy import errors, pbt
from schedy._pagination import iter_items
from schedy.random import Choice, LogUniform, Uniform

Job = schedy.Job


@pytest.fixture
def manual(db: schedy.SchedyDB) -> schedy.Experiment:
    exp = schedy.ManualSearch("manual")
    db.add_experiment(exp)
    return exp


# -- experiments -------------------------------------------------------------------


def test_each_kind_of_experiment_round_trips(db: schedy.SchedyDB) -> None:
    definitions: list[schedy.Experiment] = [
        schedy.ManualSearch("manual"),
        schedy.RandomSearch("random", {"lr": LogUniform(1e-5, 0.1), "act": Choice(["relu", "tanh"], [1, 3])}),
        schedy.PopulationBasedTraining(
            "pbt",
            pbt.MINIMIZE,
            "loss",
            pbt.Truncate(0.3),
            explore={"lr": pbt.Perturb()},
            initial_distributions={"lr": Uniform(0.01, 0.1)},
            population_size=4,
            max_generations=3,
        ),
    ]
    for exp in definitions:
        db.add_experiment(exp)
        back = db.get_experiment(exp.name)
        assert type(back) is type(exp)
        assert back == exp
    assert [e.name for e in db.get_experiments()] == ["manual", "random", "pbt"]


def test_adding_an_experiment_returns_it_ready_for_workers(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.RandomSearch("made", {"x": schedy.random.Uniform(0, 1)}))
    assert isinstance(exp, schedy.RandomSearch)
    with exp.next_job() as job:  # bound to the database: no get_experiment needed
        job.results["y"] = job.hyperparameters["x"]
    assert [j.status for j in db.get_experiment("made").all_jobs()] == ["DONE"]


def test_adding_an_existing_experiment_raises_resource_exists_error(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("twice"))
    with pytest.raises(errors.ResourceExistsError):
        db.add_experiment(schedy.RandomSearch("twice", {"x": Uniform(0, 1)}))
    assert type(db.get_experiment("twice")) is schedy.ManualSearch


def _tpe(name: str, low: float = 1e-5, **options: Any) -> schedy.TPESearch:
    space = {"lr": LogUniform(low, 0.1), "act": Choice(["relu", "tanh"])}
    return schedy.TPESearch(name, space, schedy.MINIMIZE, "loss", **options)


def test_workers_starting_together_share_one_experiment_with_exist_ok(db: schedy.SchedyDB) -> None:
    """Each worker of a pool adds the experiment and claims: one is created, every worker gets a job of it."""

    def worker(_: int) -> tuple[str, str]:
        exp = db.add_experiment(_tpe("pool", max_jobs=6), exist_ok=True)
        with exp.next_job() as job:
            job.results["loss"] = job.hyperparameters["lr"]
        return exp.name, job.job_id

    with ThreadPoolExecutor(6) as pool:  # together: one creates the experiment, five find it
        got = list(pool.map(worker, range(6)))  # a worker's exception is raised here
    assert len(got) == 6
    assert len({job for _, job in got}) == 6
    assert [e.name for e in db.get_experiments()] == ["pool"]
    # A worker started after the budget was spent: the experiment as the service has it, its loop ends at once.
    late = db.add_experiment(_tpe("pool", max_jobs=6), exist_ok=True)
    assert list(late.jobs()) == []
    assert db.add_experiment(_tpe("pool", max_jobs=6), exist_ok=True).status == "DONE"


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (_tpe("e", low=1e-4), "its search differs at distributions.lr.loguniform.low: 1e-05 there, 0.0001 here"),
        (_tpe("e", max_jobs=20), "its option maxJobs is 10 there, 20 here"),
        (schedy.RandomSearch("e", {"lr": LogUniform(1e-5, 0.1)}), "it is a TPESearch there, a RandomSearch here"),
    ],
)
def test_exist_ok_refuses_an_experiment_defined_otherwise_saying_where(
    db: schedy.SchedyDB, changed: schedy.Experiment, message: str
) -> None:
    """A script edited between two runs would otherwise run the old search believing it runs the new one."""
    db.add_experiment(_tpe("e", max_jobs=10))
    with pytest.raises(errors.ResourceExistsError) as info:
        db.add_experiment(changed, exist_ok=True)
    assert message in str(info.value)
    assert "db.get_experiment('e')" in str(info.value)
    assert changed._db is None  # not bound: a worker cannot go on with it by mistake
    assert db.get_experiment("e") == _tpe("e", max_jobs=10)


def test_names_with_slashes_spaces_and_unicode(db: schedy.SchedyDB) -> None:
    name = "a/b c?d#e%f é"
    exp = schedy.ManualSearch(name)
    db.add_experiment(exp)
    job = exp.add_job(hyperparameters={"x": 1})
    assert db.get_experiment(name).get_job(job.id).hyperparameters == {"x": 1}
    assert [e.name for e in db.get_experiments()] == [name]
    # A number is not a name: a sentence, not a failure deep in URL quoting.
    with pytest.raises(TypeError, match="An experiment is named by a string, not int 123"):
        db.get_experiment(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="A job is named by a string, not int 7"):
        exp.get_job(7)  # type: ignore[arg-type]


def test_an_invalid_definition_is_refused_with_the_reason(db: schedy.SchedyDB) -> None:
    exp = schedy.ManualSearch("bad")
    exp.extra["maxRetries"] = -1
    with pytest.raises(errors.ClientRequestError, match="maxRetries") as info:
        db.add_experiment(exp)
    assert info.value.code == 422


def test_push_updates_pauses_an_experiment(db: schedy.SchedyDB, manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1})
    manual.status = schedy.Experiment.DONE
    manual.push_updates()
    assert db.get_experiment("manual").status == "DONE"
    with pytest.raises(errors.NoJobError):
        manual.next_job()
    assert list(manual.jobs(wait=0)) == []  # the worker loop ends at once


def test_push_updates_keeps_the_options(db: schedy.SchedyDB) -> None:
    exp = schedy.ManualSearch("opts")
    exp.extra["maxRetries"] = 2
    db.add_experiment(exp)
    back = db.get_experiment("opts")
    back.status = "DONE"
    back.push_updates()
    assert db.get_experiment("opts").extra["maxRetries"] == 2


def test_deleting_an_experiment_twice_raises_when_ensured(db: schedy.SchedyDB, manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1})
    manual.delete()
    with pytest.raises(errors.ResourceNotFoundError, match="Experiment 'manual' does not exist") as info:
        db.get_experiment("manual")
    assert info.value.code == 404
    assert isinstance(info.value, errors.ClientRequestError)  # what the 2018 client raised: old handlers still catch it
    with pytest.raises(errors.UnsafeUpdateError):
        manual.delete()
    manual.delete(ensure=False)


def test_another_users_experiments_are_not_found(service: Any, db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("mine"))
    with schedy.SchedyDB(config_override=service.new_user().client_config) as other:
        with pytest.raises(errors.ResourceNotFoundError) as info:
            other.get_experiment("mine")
        assert info.value.code == 404
        assert list(other.get_experiments()) == []


def test_wrong_credentials_raise_authentication_error(service: Any) -> None:
    with (
        schedy.SchedyDB(config_override={**service.client_config, "token": "wrong"}) as db,
        pytest.raises(errors.AuthenticationError),
    ):
        list(db.get_experiments())


def test_password_login(service: Any) -> None:
    config = {**service.client_config, "token": service.password, "token_type": "password"}
    with schedy.SchedyDB(config_override=config) as db:
        assert list(db.get_experiments()) == []


# -- jobs ------------------------------------------------------------------------


def test_add_job_and_read_it_back(manual: schedy.Experiment) -> None:
    job = manual.add_job(hyperparameters={"x": 1, "name": "a"}, results={"r": [1, 2]})
    assert job.status == Job.QUEUED
    assert job.etag
    assert isinstance(job.created_at, datetime)
    back = manual.get_job(job.id)
    assert (back.job_id, back.status, back.hyperparameters, back.results) == (
        job.job_id,
        "QUEUED",
        {"x": 1, "name": "a"},
        {"r": [1, 2]},
    )
    assert back.etag == job.etag


def test_all_jobs_lists_every_job_oldest_first(db: schedy.SchedyDB, manual: schedy.Experiment) -> None:
    added = [manual.add_job(hyperparameters={"i": i}, status=Job.DONE).id for i in range(20)]
    assert [job.id for job in manual.all_jobs()] == added
    # Small pages: the keyset tokens of the service, followed by the client.
    items = list(iter_items(db._transport, "experiments/manual/jobs/", page_size=7))
    assert [item["id"] for item in items] == added


def test_next_job_hands_out_queued_jobs_oldest_first_and_running(manual: schedy.Experiment) -> None:
    first = manual.add_job(hyperparameters={"i": 1})
    second = manual.add_job(hyperparameters={"i": 2})
    claimed = [manual.next_job(), manual.next_job()]
    assert [job.id for job in claimed] == [first.id, second.id]
    assert all(job.status == Job.RUNNING for job in claimed)
    assert all(job.started_at is not None and job.worker for job in claimed)
    with pytest.raises(errors.NoJobError):
        manual.next_job()


def test_random_search_samples_new_jobs(db: schedy.SchedyDB) -> None:
    exp = schedy.RandomSearch("random", {"x": Uniform(-1, 1), "c": Choice(["a", "b"])})
    db.add_experiment(exp)
    jobs = [exp.next_job() for _ in range(10)]
    assert len({job.id for job in jobs}) == 10
    assert all(-1 <= job.hyperparameters["x"] < 1 and job.hyperparameters["c"] in "ab" for job in jobs)


def test_with_job_marks_it_done_and_pushes_the_results(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 3})
    with manual.next_job() as job:
        job.results["square"] = job.hyperparameters["x"] ** 2
    back = manual.get_job(job.id)
    assert (back.status, back.results) == ("DONE", {"square": 9})
    assert back.finished_at is not None
    assert back.etag == job.etag


def test_with_job_marks_it_crashed_when_the_block_raises(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 3})
    job = manual.next_job()

    def train() -> None:
        with job:
            job.results["step"] = 7
            raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        train()
    back = manual.get_job(job.id)
    assert (back.status, back.results) == ("CRASHED", {"step": 7})


def test_with_a_queued_job_runs_it_unless_another_worker_did(manual: schedy.Experiment) -> None:
    added = manual.add_job(hyperparameters={"x": 1})
    mine, theirs = manual.get_job(added.id), manual.get_job(added.id)
    with mine:
        assert manual.get_job(added.id).status == "RUNNING"
        with pytest.raises(errors.UnsafeUpdateError), theirs:
            pytest.fail("the block must not run")
    assert manual.get_job(added.id).status == "DONE"


def test_a_safe_put_never_overwrites_a_concurrent_change(manual: schedy.Experiment) -> None:
    added = manual.add_job(hyperparameters={"x": 1})
    first, second = manual.get_job(added.id), manual.get_job(added.id)
    first.results["by"] = "first"
    first.put()
    second.results["by"] = "second"
    with pytest.raises(errors.UnsafeUpdateError):
        second.put()
    assert manual.get_job(added.id).results == {"by": "first"}
    second.put(safe=False)
    assert manual.get_job(added.id).results == {"by": "second"}


def test_jobs_from_a_list_can_be_updated_safely(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1})
    (listed,) = list(manual.all_jobs())
    assert listed.etag is not None
    listed.status, listed.results = Job.PRUNED, {"why": "hopeless"}
    listed.put()
    (again,) = list(manual.all_jobs())
    assert (again.status, again.results) == (Job.PRUNED, {"why": "hopeless"})
    listed.results["why"] = "changed my mind"
    listed.put()  # its ETag followed the first put
    stale = again
    stale.results = {"why": "stale copy"}
    with pytest.raises(errors.UnsafeUpdateError):
        stale.put()
    assert manual.get_job(listed.id).results == {"why": "changed my mind"}


def test_a_safe_put_of_a_job_without_etag_only_creates(manual: schedy.Experiment) -> None:
    new = Job("my-id", manual, {"x": 1}, status=Job.DONE, results={"y": 2})
    new.put()
    assert new.etag
    assert manual.get_job("my-id").results == {"y": 2}
    copy = Job("my-id", manual, {"x": 1}, status=Job.CRASHED)
    with pytest.raises(errors.UnsafeUpdateError, match="get_job"):
        copy.put()
    assert manual.get_job("my-id").status == Job.DONE


def test_deleting_a_job_twice_raises_when_ensured(manual: schedy.Experiment) -> None:
    job = manual.add_job(hyperparameters={"x": 1})
    job.delete()
    with pytest.raises(errors.UnsafeUpdateError):
        job.delete()
    job.delete(ensure=False)
    assert list(manual.all_jobs()) == []


def test_nan_and_infinity_results_round_trip(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1})
    with manual.next_job() as job:
        job.results.update(loss=math.nan, best=math.inf, worst=-math.inf)
    back = manual.get_job(job.id).results
    assert math.isnan(back["loss"])
    assert (back["best"], back["worst"]) == (math.inf, -math.inf)
    listed = next(iter(manual.all_jobs())).results
    assert math.isnan(listed["loss"])


def test_numpy_values_are_stored_as_plain_json(manual: schedy.Experiment) -> None:
    job = manual.add_job(
        hyperparameters={"n": np.int64(4), "lr": np.float32(0.5)},
        results={"curve": np.array([0.5, 0.25]), "ok": np.bool_(True), "nan": np.float64("nan")},
    )
    back = manual.get_job(job.id)
    assert back.hyperparameters == {"n": 4, "lr": 0.5}
    assert back.results["curve"] == [0.5, 0.25]
    assert back.results["ok"] is True
    assert math.isnan(back.results["nan"])


# -- the worker loop ---------------------------------------------------------------


def test_jobs_runs_the_queue_and_stops_when_idle(manual: schedy.Experiment) -> None:
    for i in range(5):
        manual.add_job(hyperparameters={"i": i})
    for job in manual.jobs(wait=0, idle_timeout=0.3):
        with job:
            job.results["double"] = 2 * job.hyperparameters["i"]
    done = list(manual.all_jobs())
    assert [(j.status, j.results["double"]) for j in done] == [("DONE", 2 * i) for i in range(5)]


def test_next_job_long_polls_until_a_job_is_added(db: schedy.SchedyDB, manual: schedy.Experiment) -> None:
    adder = threading.Timer(0.4, lambda: manual.add_job(hyperparameters={"late": True}))
    adder.start()
    started = time.monotonic()
    try:
        job = manual.next_job(wait=10)
    finally:
        adder.join()
    assert job.hyperparameters == {"late": True}
    assert 0.3 < time.monotonic() - started < 5


def test_heartbeats_extend_the_lease(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1})
    # A lease of three heartbeats (3 s): the first beat (after 1 s) may come late by 2 s
    # on a loaded machine before the service could end the job.
    job = manual.next_job(heartbeat=1.0)
    assert job.lease_expires_at is not None
    claimed_lease = job.lease_expires_at
    with job:
        deadline = time.monotonic() + 30
        current = manual.get_job(job.id)
        while current.lease_expires_at == claimed_lease and time.monotonic() < deadline:
            time.sleep(0.05)
            current = manual.get_job(job.id)
        assert current.status == "RUNNING"
        assert current.lease_expires_at is not None
        assert current.lease_expires_at > claimed_lease
        assert current.etag == job.etag  # a heartbeat does not change the job
    assert manual.get_job(job.id).status == "DONE"


def test_threads_sharing_a_db_never_get_the_same_job(manual: schedy.Experiment) -> None:
    for i in range(40):
        manual.add_job(hyperparameters={"i": i})
    seen: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for job in manual.jobs(wait=0, idle_timeout=0.3):
            with job, lock:
                seen.append(job.id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 40
    assert Counter(seen).most_common(1)[0][1] == 1
    assert {job.status for job in manual.all_jobs()} == {"DONE"}


def test_to_dataframe(manual: schedy.Experiment) -> None:
    manual.add_job(hyperparameters={"x": 1}, status=Job.DONE, results={"y": 2})
    frame = manual.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["results.y"]) == [2]
    assert "created_at" in frame.columns


def _silenced_until_ended(exp: schedy.Experiment, monkeypatch: pytest.MonkeyPatch) -> Job:
    """Claim a job whose heartbeats stop reaching the service (a network cut, a frozen host); wait for its end."""
    exp.add_job(hyperparameters={"x": 1})
    monkeypatch.setattr(Job, "_beat", lambda self: True)  # none is sent
    job = exp.next_job(heartbeat=0.1)
    deadline = time.monotonic() + 10
    while exp.get_job(job.id).status == Job.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    ended = exp.get_job(job.id)
    assert (ended.status, ended.end_reason) == (Job.CRASHED, "lease-expired")
    return job


def test_a_job_whose_lease_lapsed_while_it_ran_to_its_end_keeps_its_results(
    db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    beat = Job._beat
    exp = db.add_experiment(schedy.ManualSearch("slept", max_retries=1))
    job = _silenced_until_ended(exp, monkeypatch)
    assert [j.status for j in exp.all_jobs()] == [Job.CRASHED, Job.QUEUED]  # its retry, nobody's yet
    with caplog.at_level(logging.INFO, logger="schedy"):
        assert not beat(job)  # the network is back: a heartbeat learns of the lapse; the worker goes on
        assert "has ended CRASHED" in (job.lost or "")
        with job:
            job.results["loss"] = 0.125
    assert job.lost is None
    assert [(j.id, j.status, j.results) for j in exp.all_jobs()] == [(job.id, Job.DONE, {"loss": 0.125})]
    assert "its results are kept unless its retry was claimed meanwhile" in caplog.text
    assert f"Job {job.id} of experiment 'slept': its results were kept all the same." in caplog.text
    assert "not saved" not in caplog.text


def test_a_job_that_never_learned_its_lease_lapsed_keeps_its_results_quietly(
    manual: schedy.Experiment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    job = _silenced_until_ended(manual, monkeypatch)  # a laptop that slept through its lease
    with caplog.at_level(logging.WARNING, logger="schedy"), job:
        job.results["loss"] = 0.125
    assert (job.lost, caplog.text) == (None, "")
    assert (manual.get_job(job.id).status, manual.get_job(job.id).results) == (Job.DONE, {"loss": 0.125})


def test_a_job_whose_retry_was_claimed_meanwhile_is_lost_and_its_results_logged(
    db: schedy.SchedyDB, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exp = db.add_experiment(schedy.ManualSearch("overtaken", max_retries=1))
    job = _silenced_until_ended(exp, monkeypatch)
    retry = exp.next_job(heartbeat=30)
    with caplog.at_level(logging.WARNING, logger="schedy"), job:
        job.results["loss"] = 0.125  # the block ends without raising: a worker loop goes on with its next job
    assert job.lost is not None
    assert f"and job '{retry.id}', its retry, was claimed by another worker since" in job.lost
    assert exp.get_job(job.id).status == Job.CRASHED
    # The service keeps what it decided; the results are in the log, where they can still be copied from.
    assert f'Job {job.id} was not marked DONE; its results were not saved: {{"loss": 0.125}}' in caplog.text
    with retry:
        retry.results["loss"] = 0.25
    assert {j.status for j in exp.all_jobs()} == {Job.CRASHED, Job.DONE}


def test_a_worker_loop_goes_on_when_its_job_is_taken_away(
    manual: schedy.Experiment, caplog: pytest.LogCaptureFixture
) -> None:
    """The 2018 contract: ``with`` a job from next_job never raises UnsafeUpdateError.

    Someone deletes one running job and re-queues another (the dashboard's buttons): the worker's
    results for them are not written over what the service holds, ``job.lost`` says why, and the
    loop finishes the rest, including the re-queued job's next attempt.
    """
    added = [manual.add_job(hyperparameters={"x": x}) for x in range(4)]
    deleted, requeued = added[0].id, added[1].id
    seen: list[tuple[str, str | None]] = []
    with caplog.at_level(logging.WARNING, logger="schedy"):
        for job in manual.jobs(wait=0):
            with job:
                if job.id == deleted:
                    manual.get_job(job.id).delete()
                elif job.id == requeued and job.attempt == 1:
                    other = manual.get_job(job.id)
                    other.status = Job.QUEUED
                    other.put()
                job.results["y"] = job.hyperparameters["x"] * 10
            seen.append((job.id, job.lost))
    lost = {job_id: reason for job_id, reason in seen if reason is not None}
    assert set(lost) == {deleted, requeued}
    assert "was deleted" in lost[deleted]
    assert "changed by someone else since it was read (it is now QUEUED)" in lost[requeued]
    assert f"read it again (exp.get_job({requeued!r}) in Python, `schedy show` on the command line)" in lost[requeued]
    assert [job_id for job_id, reason in seen].count(requeued) == 2  # its next attempt ran
    jobs = {job.id: job for job in manual.all_jobs()}
    assert deleted not in jobs
    assert {job.status for job in jobs.values()} == {Job.DONE}
    assert {job.results["y"] for job in jobs.values()} == {10, 20, 30}
    assert f'Job {deleted} was not marked DONE; its results were not saved: {{"y": 0}}' in caplog.text


def test_results_of_a_job_whose_heartbeat_found_it_gone_are_written_to_the_log(
    manual: schedy.Experiment, caplog: pytest.LogCaptureFixture
) -> None:
    """The loss is said when a heartbeat finds it; what it cost, the results, when the job ends."""
    manual.add_job(hyperparameters={"x": 1})
    job = manual.next_job(heartbeat=0.1)
    manual.get_job(job.id).delete()
    deadline = time.monotonic() + 10
    with caplog.at_level(logging.WARNING, logger="schedy"):
        while job.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)  # training; a heartbeat finds the job gone
        assert job.lost is not None
        with job:
            job.results["loss"] = [0.5, float("nan")]
    said = [r.getMessage() for r in caplog.records]
    assert any("lost its lease" in line for line in said)
    assert said[-1] == (
        f"Job {job.id} of experiment 'manual' was not marked DONE (Job '{job.id}' does not exist in experiment "
        """'manual'); its results were not saved: {"loss": [0.5, NaN]}"""
    )


def test_a_worker_loop_whose_experiment_is_deleted_ends_with_not_found(db: schedy.SchedyDB) -> None:
    exp = schedy.RandomSearch("short-lived", {"x": Uniform(0, 1)})
    db.add_experiment(exp)
    finished: list[schedy.Job] = []

    def work() -> None:
        for job in exp.jobs(wait=0):
            with job:
                if len(finished) == 2:
                    exp.delete()
                job.results["y"] = 1
            finished.append(job)

    with pytest.raises(errors.ResourceNotFoundError, match="short-lived"):
        work()
    # The block that saw the deletion ended without raising; the next claim said why.
    assert [job.lost is None for job in finished] == [True, True, False]


def test_a_missing_job_or_artifact_is_resource_not_found(db: schedy.SchedyDB, manual: schedy.Experiment) -> None:
    with pytest.raises(errors.ResourceNotFoundError, match="Job 'nope' does not exist"):
        manual.get_job("nope")
    job = manual.add_job(hyperparameters={"x": 1})
    with pytest.raises(errors.ResourceNotFoundError):
        job.load_artifact("model.pt")


def test_a_root_with_a_wrong_path_says_which_setting_to_check(service: Any) -> None:
    """The service at the right host and port, but the root given with an extra path (a pasted docs URL)."""
    wrong = {**service.client_config, "root": service.url.rstrip("/") + "/docs/"}
    db = schedy.SchedyDB(config_override=wrong)
    with pytest.raises(errors.ResourceNotFoundError) as info:
        list(db.get_experiments())
    assert f"Is {wrong['root']} the root of a Schedy service? `schedy server` prints its root" in str(info.value)
    # The right root still works, and a refused token is not called a wrong root.
    assert list(schedy.SchedyDB(config_override=service.client_config).get_experiments()) == []
    refused = schedy.SchedyDB(config_override={**service.client_config, "token": "not-a-token"})
    with pytest.raises(errors.AuthenticationError) as info:
        list(refused.get_experiments())
    assert "root of a Schedy service" not in str(info.value)
