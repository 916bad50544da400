"""The per-process history of an experiment: refreshed by what changed, exact across processes.

Two :class:`Store` objects on one database stand for two service processes.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from schedy.server.service import history as service_history
from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.history import KEYS_FIRST, Histories
from schedy.server.service.jobs import Jobs
from schedy.server.store import Store, migrate, tables, users
from schedy.server.store import experiments as store_experiments
from schedy.server.store import history as store_history
from schedy.server.wire import JobInput, parse_experiment

PBT = {
    "PBT": {
        "objective": "max",
        "qualityResultName": "q",
        "exploit": {"truncate": 0.25},
        "explore": {"h": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}}},
        "init": {"h": {"uniform": {"low": 0, "high": 1}}},
        "numParallel": 4,
        "maxGenerations": 6,
    }
}


@pytest.fixture
def stores(database_url):
    first = Store(database_url)
    migrate.upgrade(first)
    second = Store(database_url)
    with first.write() as conn:
        owner = users.create(conn, "history@example.com", None)
    Experiments(first).put(
        owner, "pbt", parse_experiment(json.dumps({"scheduler": PBT, "seed": 7}).encode()), create_only=True
    )
    with first.read() as conn:
        exp = store_experiments.get_record(conn, owner, "pbt")
    yield owner, exp, first, second
    first.dispose()
    second.dispose()


def _finish(jobs: Jobs, owner: int, job_id: str, q: float) -> None:
    row = jobs.get(owner, "pbt", job_id)
    jobs.put(
        owner,
        "pbt",
        job_id,
        JobInput(status="DONE", hyperparameters=json.loads(row.hyperparameters), results={"q": q}),
        if_match="*",
        if_none_match=False,
    )


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    """``work(i)`` in ``count`` threads at once; fails with what any of them raised."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors


def test_a_refresh_reads_changes_made_through_another_process_and_not_the_whole_history(stores):
    owner, exp, first, second = stores
    histories = Histories(first)
    claims_elsewhere, jobs_elsewhere = Claims(second), Jobs(second)
    handed = [claims_elsewhere.claim(owner, "pbt", worker="w", heartbeat=30.0) for _ in range(4)]
    seen = histories.read(exp.id, exp.created_at)
    assert [j.id for j in seen.jobs] == [row.job_id for row in handed]
    assert {j.status for j in seen.jobs} == {"RUNNING"}
    _finish(jobs_elsewhere, owner, handed[0].job_id, 0.5)
    again = histories.read(exp.id, exp.created_at)
    assert again.jobs[0].status == "DONE"
    assert again.jobs[0].results == {"q": 0.5}
    assert again.state.decision_seq == seen.state.decision_seq == 4
    assert histories.stats(exp.id, exp.created_at) == (2, 1)  # one full read, then only what changed
    # A deleted job is forgotten (its experiment's epoch moved): the next read is a full one.
    jobs_elsewhere.delete(owner, "pbt", handed[1].job_id, if_match="*")
    after_delete = histories.read(exp.id, exp.created_at)
    assert handed[1].job_id not in {j.id for j in after_delete.jobs}
    assert histories.stats(exp.id, exp.created_at) == (3, 2)


def test_a_busy_window_is_read_as_keys_and_only_the_jobs_that_changed_are_read_whole(stores, monkeypatch):
    # Every job written in the last OVERLAP seconds is in a refresh's window. With many of them (a fast
    # search), their keys are read and whole rows only from the oldest change the cache does not hold.
    owner, exp, first, second = stores
    # The window's length is not what this test is about: long enough that a slow machine keeps every job in it.
    monkeypatch.setattr(service_history, "OVERLAP", 600.0)
    histories, jobs_elsewhere = Histories(first), Jobs(second)
    added = [
        jobs_elsewhere.add(owner, "pbt", JobInput(status="DONE", hyperparameters={"h": 0.5}, results={"q": i}))
        for i in range(KEYS_FIRST + 8)
    ]
    whole: list[int] = []
    read_whole = store_history.changed_since

    def counting(conn, experiment_id, since):  # type: ignore[no-untyped-def]
        rows = read_whole(conn, experiment_id, since)
        whole.append(len(rows))
        return rows

    monkeypatch.setattr(store_history, "changed_since", counting)
    histories.read(exp.id, exp.created_at)  # cold: a full read
    histories.read(exp.id, exp.created_at)  # the window: every job, read whole
    assert whole == [len(added)], whole
    jobs_elsewhere.put(
        owner, "pbt", added[3].job_id, JobInput(status="DONE", hyperparameters={"h": 0.5}, results={"q": -1}),
        if_match="*", if_none_match=False,
    )  # fmt: skip
    seen = histories.read(exp.id, exp.created_at)
    assert whole[1:] == [1], whole  # the one job that changed
    assert next(j for j in seen.jobs if j.id == added[3].job_id).results == {"q": -1}
    assert histories.read(exp.id, exp.created_at).jobs == seen.jobs  # nothing changed: no whole row read
    assert whole[2:] == [], whole
    # A write stamped before later ones but committed after the last refresh (another process's slow
    # transaction): its new version is found among the keys, and read.
    with second.write() as conn:
        oldest = select(func.min(tables.jobs.c.updated_at)).where(tables.jobs.c.experiment_id == exp.id)
        conn.execute(
            update(tables.jobs)
            .where(tables.jobs.c.job_id == added[0].job_id)
            .values(version=tables.jobs.c.version + 1, results='{"q": 99}', updated_at=oldest.scalar_subquery())
        )
    late = histories.read(exp.id, exp.created_at)
    assert next(j for j in late.jobs if j.id == added[0].job_id).results == {"q": 99}
    assert [j.results for j in late.jobs if j.id != added[0].job_id] == [
        j.results for j in seen.jobs if j.id != added[0].job_id
    ]
    assert histories.stats(exp.id, exp.created_at)[1] == 1  # never a full read again


def test_a_decision_commits_only_from_the_state_it_was_made_in(stores):
    _owner, exp, first, second = stores
    with first.write() as conn:
        state = store_history.decision_state(conn, exp.id)
        assert state.decision_seq == 0
        assert store_history.commit_decision(conn, exp.id, 0, "[]", done=False)
    with second.write() as conn:
        assert not store_history.commit_decision(conn, exp.id, 0, "[]", done=False)  # made from a stale state
        assert store_history.commit_decision(conn, exp.id, 1, "[]", done=True)
    with first.write() as conn:
        assert not store_history.commit_decision(conn, exp.id, 2, "[]", done=False)  # DONE: nothing more
        assert store_history.decision_state(conn, exp.id).status == "DONE"


def test_claims_of_many_threads_over_two_processes_make_each_decision_once(stores):
    owner, exp, first, second = stores
    claims = [Claims(first), Claims(second)]
    jobs = Jobs(first)
    handed: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        for _ in range(200):
            row = claims[index % 2].claim(owner, "pbt", worker=f"w{index}", heartbeat=30.0)
            if row is None:
                with first.read() as conn:
                    if store_history.decision_state(conn, exp.id).status == "DONE":
                        return
                continue
            with lock:
                handed.append(row.job_id)
            _finish(jobs, owner, row.job_id, json.loads(row.hyperparameters)["h"])
        raise AssertionError("the population never finished")

    _run_threads(6, worker)
    all_jobs = jobs.page(owner, "pbt", None, 10_000)[0]
    assert Counter(handed) == Counter(row.job_id for row in all_jobs)  # each handed out once
    by_member: dict[str, list[int]] = {}
    for row in all_jobs:
        by_member.setdefault(row.member, []).append(row.generation)
    assert len(by_member) == 4  # numParallel members, never more
    for member, generations in by_member.items():
        assert len(generations) == len(set(generations)), (member, generations)  # each generation once
        assert max(generations) == 6, (member, generations)
    with first.read() as conn:
        # Every job came from a committed decision (some decisions, e.g. the last, hand out none).
        assert store_history.decision_state(conn, exp.id).decision_seq >= len(all_jobs)


def test_threads_of_one_process_take_turns_and_no_decision_is_made_in_vain(stores):
    # Decisions of one experiment are serial by design (each sees the previous one). Threads of one process
    # racing to the compare-and-set would all but one decide in vain (a history read and a model each time,
    # repeated); they take turns instead, so each claim reads the history once.
    owner, _exp, first, _second = stores
    tpe = {
        "TPESearch": {"distributions": {"x": {"uniform": {"low": 0, "high": 1}}}, "objective": "min", "resultName": "y"}
    }
    Experiments(first).put(owner, "tpe", parse_experiment(json.dumps({"scheduler": tpe}).encode()), create_only=True)
    with first.read() as conn:
        exp = store_experiments.get_record(conn, owner, "tpe")
    claims = Claims(first)
    handed: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        for _ in range(15):
            row = claims.claim(owner, "tpe", worker=f"w{index}", heartbeat=30.0)
            assert row is not None
            with lock:
                handed.append(row.job_id)

    _run_threads(8, worker)
    assert len(handed) == len(set(handed)) == 120
    reads, _full = claims.histories.stats(exp.id, exp.created_at)
    assert reads == 120  # one history read per claim: no decision lost to another thread of this process


def test_a_seeded_random_search_reads_no_job_and_replays_its_draws_across_processes(stores):
    # Its decision's number alone seeds its draws: a claim reads that (one row), never the jobs, which
    # on a big experiment cost a claim more with every job (and a full read every FULL_EVERY seconds).
    owner, _, first, second = stores
    search = {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}, "seed": 11}
    for name in ("seeded", "seeded-again"):
        Experiments(first).put(owner, name, parse_experiment(json.dumps(search).encode()), create_only=True)
    in_turns, alone = [Claims(first), Claims(second)], Claims(first)

    def draws(name: str, claimers: list[Claims]) -> list[float]:
        drawn = []
        for i in range(12):
            row = claimers[i % len(claimers)].claim(owner, name, worker="w", heartbeat=30.0)
            assert row is not None
            drawn.append(json.loads(row.hyperparameters)["x"])
            _finish_named(Jobs(first), owner, name, row.job_id)
        return drawn

    # Two service processes taking turns draw what one process draws alone, decision by decision.
    assert draws("seeded", in_turns) == draws("seeded-again", [alone])
    with first.read() as conn:
        for name in ("seeded", "seeded-again"):
            exp = store_experiments.get_record(conn, owner, name)
            for claims in (*in_turns, alone):
                assert claims.histories.stats(exp.id, exp.created_at) == (0, 0)  # no job read


def _finish_named(jobs: Jobs, owner: int, name: str, job_id: str) -> None:
    row = jobs.get(owner, name, job_id)
    done = JobInput(status="DONE", hyperparameters=json.loads(row.hyperparameters), results={"y": 1.0})
    jobs.put(owner, name, job_id, done, if_match="*", if_none_match=False)
