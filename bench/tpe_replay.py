"""TPE beside Optuna's, without the service's timing noise: the same decisions, replayed in order.

``bench/search_quality.py`` runs Schedy's TPE through the real service with
real worker processes, where the asynchronous order of events on a loaded
machine changes which jobs are pending at each decision, and 10 to 30 seeds
cannot separate a 1.3× difference in median regret from that noise. This
script asks the two samplers the same questions in a fixed order, so many
seeds are cheap (about a second per seed and function):

* Schedy: the service's own ``TPE`` scheduler (``decide()`` on snapshots of
  the jobs so far, each decision's random stream seeded by the seed and its
  number, as the service seeds it);
* Optuna 5's default ``TPESampler(seed=…)`` (multivariate, constant liar)
  on an in-memory study, through ``ask``/``tell``.

With ``--workers W`` each sampler keeps W jobs in flight: the oldest
finishes, then a new one is asked for while the other W − 1 are still
running (Schedy sees them RUNNING; Optuna's constant liar sees them
running): the synchronous skeleton of W asynchronous workers.

Usage::

    python bench/tpe_replay.py --functions branin,hartmann6,mixed --seeds 60 --workers 1,4

Prints a markdown table: median and mean regret of the best of ``--trials``
jobs, how many seeds each sampler won, and a Wilcoxon signed-rank test of
the paired regrets.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import deque
from typing import Any

import search_quality as sq

import schedy
from schedy.server.schedulers.base import JobView, Snapshot
from schedy.server.schedulers.registry import parse_scheduler


def schedy_regret(function: str, seed: int, trials: int, workers: int) -> float:
    """Regret of the best of ``trials`` jobs Schedy's TPE hands out, ``workers`` of them in flight."""
    wire = schedy.TPESearch("replay", sq.schedy_space(function), "min", "y")._to_wire()["scheduler"]
    scheduler = parse_scheduler(wire)
    f, optimum = sq.FUNCTIONS[function]
    assert optimum is not None
    done: list[JobView] = []
    running: deque[JobView] = deque()
    for i in range(trials):
        if len(running) == workers:
            job = running.popleft()
            value = f(dict(job.hyperparameters))
            done.append(JobView(job.id, "DONE", job.hyperparameters, {"y": value}, job.created_at))
        snapshot = Snapshot(tuple(done) + tuple(running), options={"seed": seed}, key=seed)
        new = scheduler.decide(snapshot, random.Random(seed * 100_003 + i)).job
        assert new is not None
        running.append(JobView(f"j{i}", "RUNNING", dict(new.hyperparameters), {}, float(i)))
    values = [j.results["y"] for j in done] + [f(dict(j.hyperparameters)) for j in running]
    return min(values) - optimum


def optuna_regret(function: str, seed: int, trials: int, workers: int) -> float:
    """The same with Optuna's default TPESampler, through ask and tell."""
    import optuna

    f, optimum = sq.FUNCTIONS[function]
    assert optimum is not None
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    running: deque[tuple[Any, dict[str, Any]]] = deque()
    for _ in range(trials):
        if len(running) == workers:
            trial, hps = running.popleft()
            study.tell(trial, f(hps))
        trial = study.ask()
        running.append((trial, sq.optuna_params(trial, function)))
    for trial, hps in running:
        study.tell(trial, f(hps))
    return float(study.best_value) - optimum


def main() -> None:
    import optuna
    from scipy.stats import wilcoxon

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="branin,hartmann6,mixed")
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    print(
        "| function, workers | Schedy median | Optuna median | Schedy / Optuna | Schedy mean | Optuna mean "
        "| seeds Schedy better / Optuna better | Wilcoxon p | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for function in args.functions.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            start = time.monotonic()
            ours = [schedy_regret(function, s, args.trials, workers) for s in range(args.seeds)]
            theirs = [optuna_regret(function, s, args.trials, workers) for s in range(args.seeds)]
            better = sum(a < b for a, b in zip(ours, theirs, strict=True))
            worse = sum(a > b for a, b in zip(ours, theirs, strict=True))
            p = wilcoxon(ours, theirs).pvalue
            m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
            print(
                f"| {function} W={workers} | {m_ours:.4g} | {m_theirs:.4g} | {m_ours / m_theirs:.2f} "
                f"| {statistics.mean(ours):.4g} | {statistics.mean(theirs):.4g} | {better} / {worse} "
                f"| {p:.2g} | {time.monotonic() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
