"""Population Based Training of a small scikit-learn model, end to end.

Creates a PBT experiment that schedules the learning rate (``eta0``) and the
regularisation (``alpha``) of an SGDClassifier on the digits dataset, starts
``--workers`` worker processes (``examples/pbt/worker.py``) that train it
one interval per job, waits until the service declares the experiment DONE,
then prints the best member: its validation and test accuracy and its
hyperparameter *schedule*, read from its lineage (each job's ``parent``; an
exploit makes the lineage jump to the member it copied)::

    pip install './[examples]'
    python examples/pbt/launch.py --local-service          # a throwaway service
    python examples/pbt/launch.py --members 8 --generations 10 --workers 4   # your service

Without ``--local-service`` it uses your usual connection
(``~/.schedy/client.json``, or ``SCHEDY_ROOT``/``SCHEDY_EMAIL``/``SCHEDY_TOKEN``),
and workers on other machines can join with ``worker.py``. Checkpoints
travel through the service as artifacts of the jobs: each worker runs in a
working directory of its own, and no path is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from worker import CHECKPOINT, load_data, load_model

import schedy
from schedy import pbt
from schedy.random import LogUniform

HERE = Path(__file__).resolve().parent


def define(name: str, members: int, generations: int, seed: int | None) -> schedy.PopulationBasedTraining:
    """The search: maximise validation accuracy; bottom quarter copies the top quarter."""
    explore = pbt.Perturb(0.8, 1.2, resample_probability=0.2, clip=True)
    return schedy.PopulationBasedTraining(
        name,
        pbt.MAXIMIZE,
        "accuracy",
        pbt.Truncate(0.25),
        explore={"eta0": explore, "alpha": explore},
        initial_distributions={"eta0": LogUniform(1e-4, 1.0), "alpha": LogUniform(1e-6, 1e-1)},
        population_size=members,
        max_generations=generations,
        seed=seed,  # the service's decisions are then reproducible
    )


def lineage(job: schedy.Job, by_id: dict[str, schedy.Job]) -> list[schedy.Job]:
    """``job`` and its ancestors, generation 1 first."""
    chain = [job]
    while chain[-1].parent is not None and chain[-1].parent in by_id:
        chain.append(by_id[chain[-1].parent])
    return chain[::-1]


def report(exp: schedy.Experiment) -> dict[str, Any]:
    """The best member's final model, accuracies and schedule."""
    jobs = list(exp.all_jobs())
    by_id = {job.id: job for job in jobs}
    done = [job for job in jobs if job.status == schedy.Job.DONE]
    last = max(job.generation or 1 for job in done)
    best = max((job for job in done if (job.generation or 1) == last), key=lambda job: job.results["accuracy"])
    data = load_data()
    with tempfile.TemporaryDirectory(prefix="schedy-pbt-best-") as scratch:
        model = load_model(best.load_artifact(CHECKPOINT, Path(scratch) / CHECKPOINT))
    schedule = [
        {
            "generation": step.generation or 1,
            "member": step.member or step.id,
            "eta0": step.hyperparameters["eta0"],
            "alpha": step.hyperparameters["alpha"],
            "accuracy": step.results["accuracy"],
        }
        for step in lineage(best, by_id)
    ]
    return {
        "experiment": exp.name,
        "jobs": len(jobs),
        "best_job": best.id,
        "best_member": best.member,
        "validation_accuracy": best.results["accuracy"],
        "test_accuracy": float(model.score(data.x_test, data.y_test)),
        "initial_best_validation_accuracy": max(
            job.results["accuracy"] for job in done if (job.generation or 1) == 1 and job.parent is None
        ),
        "schedule": schedule,
    }


def print_report(result: dict[str, Any]) -> None:
    print(f"{result['jobs']} jobs. Best member {result['best_member']} (job {result['best_job']}):")
    print(f"  validation accuracy {result['validation_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f}")
    print(f"  (best validation accuracy after the first interval: {result['initial_best_validation_accuracy']:.4f})")
    print("  its schedule, from its lineage (the member changes where it copied another one):")
    print("  generation  member  eta0       alpha      val. accuracy")
    for step in result["schedule"]:
        print(
            f"  {step['generation']:>10}  {step['member']:<6}  {step['eta0']:<9.3g}  {step['alpha']:<9.3g}  "
            f"{step['accuracy']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8, help="population size (default 8)")
    parser.add_argument("--generations", type=int, default=10, help="intervals per member (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to start (default 2)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training set per interval")
    parser.add_argument("--name", default=f"digits-pbt-{time.strftime('%Y%m%d-%H%M%S')}", help="experiment name")
    parser.add_argument("--seed", type=int, help="seed of the service's PBT decisions")
    parser.add_argument("--local-service", action="store_true", help="start a throwaway schedy server for the run")
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    with ExitStack() as stack:
        env = dict(os.environ)
        if args.local_service:
            from schedy.testing import ServiceProcess

            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="schedy-pbt-example-")))
            service = stack.enter_context(ServiceProcess.start(home))
            config = service.new_user().client_config
            env.update(SCHEDY_ROOT=config["root"], SCHEDY_EMAIL=config["email"], SCHEDY_TOKEN=config["token"])
            os.environ.update(env)  # for this process's own SchedyDB too
        db = stack.enter_context(schedy.SchedyDB())
        db.add_experiment(define(args.name, args.members, args.generations, args.seed))
        print(
            f"Experiment {args.name!r}: {args.members} members x {args.generations} generations, {args.workers} workers"
        )

        command = [sys.executable, str(HERE / "worker.py"), "--experiment", args.name, "--epochs", str(args.epochs)]
        # Each worker in a directory of its own, as on separate machines: checkpoints go through the service.
        directories = [
            stack.enter_context(tempfile.TemporaryDirectory(prefix=f"schedy-pbt-worker{i}-"))
            for i in range(args.workers)
        ]
        workers = [subprocess.Popen(command, env=env, cwd=directory) for directory in directories]
        codes = [worker.wait() for worker in workers]
        if any(codes):
            raise SystemExit(f"a worker failed (exit codes {codes})")

        exp = db.get_experiment(args.name)
        if exp.status != exp.DONE:
            raise SystemExit(f"the workers stopped before the experiment ended (status {exp.status})")
        result = report(exp)
        print_report(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
