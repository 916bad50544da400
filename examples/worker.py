"""A Schedy worker: random search on a toy function.

Start the service (``schedy server``), then run as many of these as you like,
on one machine or many; each runs ``--trials`` jobs, and the service never
hands a job to two of them::

    python examples/worker.py --trials 100 &
    python examples/worker.py --trials 100 &
    python examples/worker.py --trials 100

The loop is the usual Schedy one: ``exp.jobs()`` claims RUNNING jobs (and
waits, with backoff, when there are none), and ``with job:`` marks each one
DONE, or CRASHED if the block raises, and saves its results. The same loop
written by hand is::

    while True:
        with exp.next_job() as job:
            job.results["loss"] = loss(**job.hyperparameters)

The connection comes from ``~/.schedy/client.json`` (``schedy server`` writes
one on its first start) or the ``SCHEDY_ROOT``, ``SCHEDY_EMAIL`` and
``SCHEDY_TOKEN`` variables.
"""

from __future__ import annotations

import argparse
import contextlib
import math

import schedy
from schedy.random import LogUniform, Uniform


def loss(x: float, y: float, lr: float) -> float:
    """A toy objective: a valley around (1, -2), best with lr near 1e-2."""
    return (x - 1) ** 2 + (y + 2) ** 2 + math.log10(lr / 1e-2) ** 2


def experiment(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    """The experiment, created by whichever worker starts first."""
    search = schedy.RandomSearch(name, {"x": Uniform(-5, 5), "y": Uniform(-5, 5), "lr": LogUniform(1e-5, 1)})
    with contextlib.suppress(schedy.errors.ResourceExistsError):  # another worker created it
        db.add_experiment(search)
    return db.get_experiment(name)


def best(exp: schedy.Experiment) -> schedy.Job | None:
    """The finished job with the lowest loss so far."""
    done = [job for job in exp.all_jobs() if job.status == schedy.Job.DONE]
    return min(done, key=lambda job: job.results["loss"], default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="toy-random-search", help="experiment name")
    parser.add_argument("--trials", type=int, default=100, help="jobs this worker runs before it stops")
    args = parser.parse_args()

    with schedy.SchedyDB() as db:
        exp = experiment(db, args.experiment)
        done = 0
        # Random search never runs out of jobs: stop at this worker's budget.
        # The loop also ends when the experiment is set DONE (or paused).
        for job in exp.jobs(idle_timeout=60):
            with job:
                job.results["loss"] = loss(**job.hyperparameters)
            done += 1
            if done >= args.trials:
                break
        found = best(exp)
        print(f"This worker ran {done} jobs.")
        if found is not None:
            print(f"Best so far: loss {found.results['loss']:.4f} at {found.hyperparameters} (job {found.id})")
        print(f"See every job in the dashboard: {db.root}")


if __name__ == "__main__":
    main()
