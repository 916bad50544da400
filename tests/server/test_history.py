"""The per-process history of an experiment: refreshed by what changed, exact across processes.

Two :class:`Store` objects on one database stand for two service processes.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.history import Histories
from schedy.server.service.jobs import Jobs
from schedy.server.store import Store, migrate, users
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
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
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
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
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
