"""Search quality: the toy problem of PBT.md through the real service, with real worker processes.

One command::

    python bench/pbt_toy.py [--workers 4] [--seeds 10] [--database sqlite|postgres]

starts a throwaway ``schedy server`` (and PostgreSQL if asked), then for each
seed runs, side by side:

* **PBT**: 10 members, 25 generations, Truncate(0.2), Perturb(0.8, 1.2) on
  h0 and h1, init uniform in [0, 1), the experiment's ``seed`` option set to
  the seed. Each job is one interval (4 gradient steps on θ from the
  checkpoint in ``job.results``).
* **random search, 10 members** (PBT.md's row): a RandomSearch experiment
  over the same init distributions; each of its 10 jobs trains a fresh
  member for all 25 intervals (θ from (0.9, 0.9), 100 steps), so it trains
  as many intervals as PBT's budget (250).

``--workers`` worker processes (our client, ``exp.jobs()`` and
``with job:``) start each experiment together and work on it until it is
DONE (PBT) or its 10 jobs are claimed (random search). The table gives the
final best Q (the best Q of any DONE job; Q only grows along a lineage),
median over seeds with min–max, the jobs and intervals used, and wall time.

A third row, computed in-process without any service, is the pure scheduler
(``schedy.server.schedulers.pbt``) on the same seeds with simulated workers
that finish first-in first-out: with ``--workers 1`` the service must give
exactly the same figures (one worker is deterministic), and with more
workers the difference is what real timing does.

The toy trains in microseconds, so by default a job's life is mostly the
claim itself, and claims of one experiment are serialised: fewer jobs are
really in flight than there are workers (the column "jobs in flight at a
claim" says how many; 3 is the most 4 workers can reach). With
``--train-seconds S`` each interval also sleeps S ± 50 % seconds, as real
training would, and the workers really run in parallel. The quality of PBT
depends on that parallelism (rules 3 and 4 rank a member against those
that reached its generation), so compare rows with similar values there.

The problem (Jaderberg et al. 2017, section 4.1): maximise
Q(θ) = 1.2 − (θ0² + θ1²) while training climbs the surrogate
Q̂(θ|h) = 1.2 − (h0·θ0² + h1·θ1²) by gradient steps of size 0.01.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import schedy
from schedy import pbt
from schedy.random import Uniform
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.pbt import PBT
from schedy.testing import PostgresCluster, ServiceProcess

POPULATION = 10
GENERATIONS = 25
STEPS_PER_INTERVAL = 4
STEP_SIZE = 0.01
GOAL = 1.19
# How long one nextjob request may wait at the service for a member to free up.
WAIT = 1.0


# -- the problem ----------------------------------------------------------------------


def train(hyperparameters: Mapping[str, Any], results: Mapping[str, Any], intervals: int = 1) -> dict[str, Any]:
    """Train ``intervals`` intervals from the checkpoint θ in ``results``; the new results."""
    theta0, theta1 = results.get("theta", [0.9, 0.9])
    h0, h1 = hyperparameters["h0"], hyperparameters["h1"]
    for _ in range(intervals * STEPS_PER_INTERVAL):
        theta0, theta1 = theta0 - STEP_SIZE * 2 * h0 * theta0, theta1 - STEP_SIZE * 2 * h1 * theta1
    return {"theta": [theta0, theta1], "Q": 1.2 - (theta0**2 + theta1**2)}


def pbt_experiment(name: str, seed: int) -> schedy.PopulationBasedTraining:
    exp = schedy.PopulationBasedTraining(
        name,
        pbt.MAXIMIZE,
        "Q",
        pbt.Truncate(0.2),
        explore={"h0": pbt.Perturb(0.8, 1.2), "h1": pbt.Perturb(0.8, 1.2)},
        initial_distributions={"h0": Uniform(0, 1), "h1": Uniform(0, 1)},
        population_size=POPULATION,
        max_generations=GENERATIONS,
    )
    exp.extra["seed"] = seed
    return exp


def random_experiment(name: str) -> schedy.RandomSearch:
    return schedy.RandomSearch(name, {"h0": Uniform(0, 1), "h1": Uniform(0, 1)})


# -- workers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    method: str  # "pbt" or "random"
    seed: int
    name: str


def _work_pbt(exp: schedy.Experiment, pause: Callable[[int], None]) -> int:
    claimed = 0
    for job in exp.jobs(wait=WAIT, idle_timeout=300):
        claimed += 1
        with job:
            pause(1)
            job.results.update(train(job.hyperparameters, job.results))
    return claimed


def _work_random(exp: schedy.Experiment, pause: Callable[[int], None], budget: Synchronized[int] | None) -> int:
    assert budget is not None
    claimed = 0
    while True:
        with budget.get_lock():
            if budget.value <= 0:
                return claimed
            budget.value -= 1
        claimed += 1
        with exp.next_job() as job:
            pause(GENERATIONS)
            job.results.update(train(job.hyperparameters, {}, intervals=GENERATIONS))


def worker(
    config: dict[str, str],
    tasks: list[Task],
    budgets: dict[str, Synchronized[int]],
    barrier: Barrier,
    index: int,
    out: str,
    train_seconds: float,
) -> None:
    """One worker process: every task in order, each started together with the other workers.

    Training takes ``train_seconds`` per interval, ±50 % at random (none by default).
    """
    rng = random.Random(index)

    def pause(intervals: int) -> None:
        if train_seconds > 0:
            time.sleep(sum(rng.uniform(0.5, 1.5) * train_seconds for _ in range(intervals)))

    timings = []
    with schedy.SchedyDB(config_override=config, worker=f"bench-{index}") as db:
        for task in tasks:
            exp = db.get_experiment(task.name)
            barrier.wait()
            start = time.time()
            work = _work_pbt if task.method == "pbt" else partial(_work_random, budget=budgets.get(task.name))
            claimed = work(exp, pause=pause)
            timings.append({"name": task.name, "start": start, "end": time.time(), "claimed": claimed})
    Path(out).write_text(json.dumps(timings))


# -- the pure scheduler, in-process ---------------------------------------------------------


def in_process(seed: int, workers: int) -> tuple[float, int, float]:
    """The pure scheduler with ``workers`` simulated workers that finish first-in first-out.

    As the service does it: queued jobs first (none here), one RNG stream
    seeded with the experiment's seed, every result through JSON. Returns
    (best Q, jobs, mean number of other jobs in flight when a job was created).
    """
    scheduler = PBT.from_params(pbt_experiment("x", seed)._scheduler_params())
    rng = random.Random(seed)  # the service seeds its stream the same way
    jobs: list[JobView] = []
    clock = 0.0
    running: deque[int] = deque()
    in_flight: list[int] = []
    done = False
    while True:
        while not done and len(running) < workers:
            clock += 1
            decision = scheduler.decide(Snapshot(tuple(jobs), clock), rng)
            done = decision.experiment_done
            new = decision.job
            if new is None:
                break
            jobs.append(
                JobView(
                    f"j{len(jobs)}",
                    "RUNNING",
                    json.loads(json.dumps(new.hyperparameters)),
                    json.loads(json.dumps(new.results)),
                    created_at=clock,
                    member=new.member,
                    generation=new.generation,
                    parent=new.parent,
                    attempt=new.attempt,
                )
            )
            in_flight.append(len(running))
            running.append(len(jobs) - 1)
        if not running:
            break
        i = running.popleft()
        clock += 1
        results = json.loads(json.dumps(train(jobs[i].hyperparameters, dict(jobs[i].results))))
        jobs[i] = replace(jobs[i], status="DONE", results=results, finished_at=clock)
    return max(job.results["Q"] for job in jobs), len(jobs), statistics.mean(in_flight)


# -- the run --------------------------------------------------------------------------


@dataclass
class Outcome:
    method: str
    seed: int
    best_q: float
    jobs: int
    intervals: int
    seconds: float
    in_flight: float  # mean number of other jobs in flight when a job was created


def mean_in_flight(jobs: list[schedy.Job]) -> float:
    """How many other jobs were in flight, on average, when each job was created (from the service's times)."""
    spans = [(j.created_at, j.finished_at) for j in jobs if j.created_at is not None]
    counts = [
        sum(1 for start, end in spans if start < created and (end is None or end > created)) for created, _ in spans
    ]
    return statistics.mean(counts) if counts else 0.0


def _versions() -> dict[str, str]:
    from importlib import metadata

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except OSError:
        commit = "-"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "-",
        "schedy": metadata.version("schedy"),
        "python": platform.python_version(),
        "sqlalchemy": metadata.version("sqlalchemy"),
        "machine": f"{platform.machine()}, {mp.cpu_count()} cores",
    }


def run(args: argparse.Namespace) -> list[Outcome]:
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    methods = [m for m in ("pbt", "random") if m in args.methods]
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="schedy-pbt-toy-")))
        url = None
        if args.database == "postgres":
            cluster = PostgresCluster.start()
            stack.callback(cluster.stop)
            url = cluster.new_database()
        service = ServiceProcess.start(home / "server", url)
        stack.callback(service.stop)
        config = service.new_user().client_config

        tasks = [Task(m, seed, f"{m}-toy-seed{seed}") for seed in seeds for m in methods]
        with schedy.SchedyDB(config_override=config) as db:
            for task in tasks:
                db.add_experiment(
                    pbt_experiment(task.name, task.seed) if task.method == "pbt" else random_experiment(task.name)
                )

        context = mp.get_context("spawn")  # fresh interpreters, like workers on other machines
        budgets = {t.name: context.Value("i", POPULATION) for t in tasks if t.method == "random"}
        barrier = context.Barrier(args.workers)
        outs = [home / f"worker-{i}.json" for i in range(args.workers)]
        processes = [
            context.Process(
                target=worker,
                args=(config, tasks, budgets, barrier, i, str(outs[i]), args.train_seconds),
            )
            for i in range(args.workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if any(p.exitcode != 0 for p in processes):
            raise SystemExit(f"a worker failed; server log:\n{service.log()[-4000:]}")

        timings = [t for out in outs for t in json.loads(out.read_text())]
        outcomes = []
        with schedy.SchedyDB(config_override=config) as db:
            for task in tasks:
                exp = db.get_experiment(task.name)
                every = list(exp.all_jobs())
                jobs = [j for j in every if j.status == schedy.Job.DONE]
                mine = [t for t in timings if t["name"] == task.name]
                seconds = max(t["end"] for t in mine) - min(t["start"] for t in mine)
                per_job = 1 if task.method == "pbt" else GENERATIONS
                if task.method == "pbt" and exp.status != exp.DONE:
                    raise SystemExit(f"{task.name} did not end")
                outcomes.append(
                    Outcome(
                        task.method,
                        task.seed,
                        max(j.results["Q"] for j in jobs),
                        len(jobs),
                        per_job * len(jobs),
                        seconds,
                        mean_in_flight(every),
                    )
                )
    for seed in seeds:
        start = time.perf_counter()
        best, n, in_flight = in_process(seed, args.workers)
        outcomes.append(Outcome("in-process", seed, best, n, n, time.perf_counter() - start, in_flight))
    return outcomes


LABELS = {
    "pbt": "Schedy PBT, through the service",
    "random": "random search, 10 members, through the service",
    "in-process": "pure PBT scheduler in-process, FIFO workers (no service)",
}


def table(outcomes: list[Outcome], workers: int) -> str:
    lines = [
        f"| method ({workers} workers) | median best Q | min–max | median jobs (intervals) "
        "| jobs in flight at a claim, mean | wall time, median per seed |",
        "|---|---|---|---|---|---|",
    ]
    for method in ("pbt", "random", "in-process"):
        rows = [o for o in outcomes if o.method == method]
        if not rows:
            continue
        qs = [o.best_q for o in rows]
        jobs = statistics.median(o.jobs for o in rows)
        intervals = statistics.median(o.intervals for o in rows)
        lines.append(
            f"| {LABELS[method]} | {statistics.median(qs):.4f} | {min(qs):.4f}–{max(qs):.4f} | "
            f"{jobs:g} ({intervals:g}) | {statistics.mean(o.in_flight for o in rows):.2f} | "
            f"{statistics.median(o.seconds for o in rows):.2f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per method (default 10)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--methods", default="pbt,random", help="comma-separated: pbt, random (default both)")
    parser.add_argument(
        "--train-seconds",
        type=float,
        default=0.0,
        help="simulated training time per interval, ±50%% at random (default 0: the toy trains instantly)",
    )
    parser.add_argument("--json", type=Path, help="also write every seed's figures to this file")
    args = parser.parse_args(argv)
    args.methods = args.methods.split(",")
    if args.workers < 1 or args.seeds < 1:
        parser.error("--workers and --seeds must be at least 1")

    started = time.perf_counter()
    outcomes = run(args)
    elapsed = time.perf_counter() - started
    versions = _versions()
    command = " ".join(["python", "bench/pbt_toy.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"$ {command}")
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + f", database {args.database}")
    print(table(outcomes, args.workers))
    pbt_rows = [o.best_q for o in outcomes if o.method == "pbt"]
    if pbt_rows:
        median = statistics.median(pbt_rows)
        verdict = "reaches" if median >= GOAL else "misses"
        budget = max(o.jobs for o in outcomes if o.method == "pbt")
        print(f"PBT {verdict} the goal (median best Q {median:.4f} vs {GOAL}); most jobs in one run: {budget} (≤ 250)")
    print(f"total {elapsed:.1f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": command,
                    "versions": versions,
                    "database": args.database,
                    "workers": args.workers,
                    "outcomes": [o.__dict__ for o in outcomes],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
