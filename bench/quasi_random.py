"""Quasi-random against i.i.d. random search, as optimisers: the pure sampler, many seeds, no service.

One command::

    python bench/quasi_random.py [--functions branin,hartmann6,mixed] [--seeds 200] [--points 64,100,128]

For each function, number of points n and seed, runs ``RandomSearch``'s
``decide()`` n times (``sampler="iid"`` and ``"sobol"``, the experiment's
random stream seeded by the seed) on in-memory snapshots, every point
evaluated at once, and prints the median and mean regret of the best point
and in how many seeds Sobol's best was the better one. The functions are
``bench/search_quality.py``'s. Through the real service, with workers, the
same comparison is a column of that benchmark (few seeds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_quality as sq

import schedy
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.registry import parse_scheduler


def best_regret(function: str, sampler: str, seed: int, points: int) -> float:
    """Regret of the best of ``points`` points the sampler hands out in a row."""
    wire = schedy.RandomSearch("bench", sq.schedy_space(function), sampler=sampler)._to_wire()["scheduler"]
    scheduler = parse_scheduler(wire)
    f, optimum = sq.FUNCTIONS[function]
    assert optimum is not None
    jobs: list[JobView] = []
    for i in range(points):
        job = scheduler.decide(Snapshot(tuple(jobs), key=seed), random.Random(f"{seed}:{i}")).job
        assert job is not None
        hps = dict(job.hyperparameters)
        jobs.append(JobView(f"j{i}", "DONE", hps, {"y": f(hps)}, 0.0))
    return min(j.results["y"] for j in jobs) - optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="branin,hartmann6,mixed")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--points", default="64,100,128")
    args = parser.parse_args()
    print("| function | points | median iid | median Sobol | mean iid | mean Sobol | seeds Sobol better |")
    print("|---|---|---|---|---|---|---|")
    for function in args.functions.split(","):
        for points in (int(n) for n in args.points.split(",")):
            seeds = range(args.seeds)
            regret = {s: [best_regret(function, s, seed, points) for seed in seeds] for s in ("iid", "sobol")}
            wins = sum(a < b for a, b in zip(regret["sobol"], regret["iid"], strict=True))
            medians = [f"{statistics.median(regret[s]):.4g}" for s in ("iid", "sobol")]
            means = [f"{statistics.mean(regret[s]):.4g}" for s in ("iid", "sobol")]
            print(f"| {function} | {points} | {' | '.join(medians)} | {' | '.join(means)} | {wins} / {args.seeds} |")


if __name__ == "__main__":
    main()
