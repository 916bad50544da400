"""An experiment handed to a process started with ``spawn`` (CUDA's multiprocessing, macOS): real service, both DBs."""

from __future__ import annotations

import multiprocessing
import pickle
from typing import Any

import schedy
from schedy.random import Uniform


def _work(exp: schedy.Experiment, out: Any) -> None:
    """A spawned worker: the experiment arrived pickled, with a connection of its own to the same service."""
    for job in exp.jobs(max_jobs=2):
        with job:
            job.results["loss"] = job.hyperparameters["x"]
    out.put(exp._require_db().worker)


def test_an_experiment_pickled_to_a_spawned_worker_works_there(db: schedy.SchedyDB) -> None:
    exp = db.add_experiment(schedy.RandomSearch("spawned", {"x": Uniform(0, 1)}, max_jobs=4))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_work, args=(exp, out)) for _ in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0, 0]
    names = {out.get(timeout=5) for _ in workers}
    jobs = list(exp.all_jobs())
    assert [job.status for job in jobs] == [schedy.Job.DONE] * 4
    assert {job.worker for job in jobs} == names  # each child claimed as itself (host:its own pid)
    assert len(names) == 2


def test_a_pickled_database_keeps_its_settings_and_not_its_connections(db: schedy.SchedyDB) -> None:
    db.heartbeat, db.worker = 5.0, "trainer-7"
    copy = pickle.loads(pickle.dumps(db))  # noqa: S301 - our own bytes
    assert copy is not db
    assert (copy.root, copy.heartbeat, copy.worker) == (db.root, 5.0, "trainer-7")
    assert copy._transport is not db._transport
    exp = copy.add_experiment(schedy.ManualSearch("through-the-copy"))
    assert [e.name for e in db.get_experiments()] == [exp.name]
