"""A Schedy worker: model-based search (TPE) with early stopping (ASHA) on a toy training.

Start the service (``schedy server``), then run as many of these as you like,
on one machine or many; each runs ``--trials`` jobs, and the service never
hands a job to two of them::

    python examples/worker.py --trials 100 &
    python examples/worker.py --trials 100 &
    python examples/worker.py --trials 100

The loop is the usual Schedy one: ``exp.jobs()`` claims RUNNING jobs (and
waits, with backoff, when there are none), and ``with job:`` marks each one
DONE, or CRASHED if the block raises, and saves its results. Each job
"trains" for ``EPOCHS`` epochs and reports its loss after each one; when the
service answers that the job is hopeless (ASHA: not among the best third of
the jobs that reached the same epoch), the worker raises ``JobPruned``, which
ends the job PRUNED and goes on with the next one. The same loop written by
hand is::

    while True:
        with exp.next_job() as job:
            for epoch in range(1, EPOCHS + 1):
                job.results["loss"] = train(**job.hyperparameters, epoch=epoch)
                if job.report(epoch, loss=job.results["loss"]):
                    raise schedy.errors.JobPruned()

The first ten jobs are quasi-random; from then on each claim gets the point
TPE finds most promising given every finished job and every job still
running. The connection comes from ``~/.schedy/client.json`` (``schedy
server`` writes one on its first start) or the ``SCHEDY_ROOT``,
``SCHEDY_EMAIL`` and ``SCHEDY_TOKEN`` variables.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys

import schedy
from schedy.random import LogUniform, Uniform
from schedy.stopping import ASHA

#: Epochs of a training run that is not stopped.
EPOCHS = 9


def loss(x: float, y: float, lr: float) -> float:
    """The toy's final loss: a valley around (1, -2), best with lr near 1e-2."""
    return (x - 1) ** 2 + (y + 2) ** 2 + math.log10(lr / 1e-2) ** 2


def train(x: float, y: float, lr: float, epoch: int) -> float:
    """The loss after ``epoch`` epochs: it falls towards :func:`loss`, faster with a larger lr (curves cross)."""
    speed = 0.2 + 0.15 * (math.log10(lr) + 5)  # 0.2 at lr = 1e-5, 0.95 at lr = 1
    return loss(x, y, lr) + 20 * math.exp(-speed * epoch)


def search(name: str) -> schedy.TPESearch:
    """TPE over x, y and lr, minimising the loss, with ASHA stopping hopeless runs at epochs 1 and 3."""
    return schedy.TPESearch(
        name,
        {"x": Uniform(-5, 5), "y": Uniform(-5, 5), "lr": LogUniform(1e-5, 1)},
        schedy.MINIMIZE,
        "loss",
        early_stopping=ASHA("loss", schedy.MINIMIZE, min_step=1, reduction_factor=3, max_step=EPOCHS),
    )


def experiment(db: schedy.SchedyDB, name: str) -> schedy.Experiment:
    """The experiment, created by whichever worker starts first (the others find it defined the same)."""
    return db.add_experiment(search(name), exist_ok=True)


def run(job: schedy.Job) -> None:
    """One job: train epoch by epoch, report each loss, stop when the service says so."""
    for epoch in range(1, EPOCHS + 1):
        # The latest loss is the job's result: a stopped job keeps it (TPE ranks it below finished ones).
        job.results["loss"] = train(**job.hyperparameters, epoch=epoch)
        job.results["epochs"] = epoch
        if job.report(epoch, loss=job.results["loss"]):
            raise schedy.errors.JobPruned()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="toy-search", help="experiment name")
    parser.add_argument("--trials", type=int, default=100, help="jobs this worker runs before it stops")
    args = parser.parse_args()
    # `kill` (or the quickstart stopping its workers) ends the running job CRASHED too, then the process (143).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        work(args.experiment, args.trials)
    except KeyboardInterrupt:
        # Ctrl-C: ``with job:`` has ended the running job CRASHED (another worker can run it again).
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut this short
        print("This worker was interrupted.", flush=True)
        sys.exit(128 + signal.SIGINT)


def work(name: str, trials: int) -> None:
    """Run ``trials`` jobs of the experiment ``name`` (created if need be), then say how they went."""
    with schedy.SchedyDB() as db:
        exp = experiment(db, name)
        done = stopped = 0
        # TPE never runs out of jobs: stop at this worker's budget.
        # The loop also ends when the experiment is set DONE (or paused).
        for job in exp.jobs(idle_timeout=60, max_jobs=trials):
            with job:  # JobPruned ends the job PRUNED, and the loop goes on
                run(job)
            done += 1
            stopped += job.status == schedy.Job.PRUNED
        found = exp.best_job()  # by the search's own objective: the lowest loss of a DONE job
        print(f"This worker ran {done} jobs; the service stopped {stopped} of them early.")
        if found is not None:
            print(f"Best so far: loss {found.results['loss']:.4f} at {found.hyperparameters} (job {found.id})")
        print(f"See every job in the dashboard: {db.root}")


if __name__ == "__main__":
    main()
