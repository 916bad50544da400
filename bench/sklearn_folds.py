"""scikit-learn cross-validation stopped fold by fold: fits saved and accuracy kept (docs/benchmarks.md).

    python bench/sklearn_folds.py [--configs 40] [--folds 5] [--seeds 0 1 2] [--workers 2] [--search random|tpe]

For each seed, one random search (or, ``--search tpe``, a TPE search) of an
SVC pipeline on scikit-learn's digits (C and gamma log-uniform, the kernel
rbf or sigmoid; the search's ``seed`` fixes the random configurations),
worked by ``--workers`` processes calling
:func:`schedy.integrations.sklearn.cross_validate` through a real service
(SQLite), twice: without early stopping (every configuration scored on every
fold), and with ``ASHA("accuracy", "max", min_step=1, reduction_factor=3)``
(rungs after folds 1 and 3). Reported: the folds fitted, the wall time, the
best mean cross-validation accuracy among configurations scored on every
fold, and that configuration's accuracy on a held-out quarter of the data.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import schedy
from schedy.random import Choice, LogUniform
from schedy.stopping import ASHA
from schedy.testing import ServiceProcess


def _data() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=0.25, random_state=0)


def _pipeline() -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC())


PARAMS = {"C": "svc__C", "gamma": "svc__gamma", "kernel": "svc__kernel"}


def _worker(config: dict[str, str], name: str, folds: int) -> None:
    from schedy.integrations.sklearn import cross_validate

    x, _, y, _ = _data()
    with schedy.SchedyDB(config_override=config) as db:
        exp = db.get_experiment(name)
        for job in exp.jobs(wait=1.0):
            with job:
                cross_validate(
                    job, _pipeline(), x, y, cv=folds, scoring="accuracy", result="accuracy", param_map=PARAMS
                )


def _run(config: dict[str, str], name: str, args: argparse.Namespace, seed: int, prune: bool) -> dict[str, Any]:
    space = {"C": LogUniform(1e-2, 1e3), "gamma": LogUniform(1e-5, 1.0), "kernel": Choice(["rbf", "sigmoid"])}
    policy = ASHA("accuracy", "max", min_step=1, reduction_factor=3) if prune else None
    options: dict[str, Any] = {"max_jobs": args.configs, "seed": seed, "early_stopping": policy}
    if args.search == "tpe":
        search: schedy.Experiment = schedy.TPESearch(name, space, "max", "accuracy", **options)
    else:
        search = schedy.RandomSearch(name, space, **options)
    with schedy.SchedyDB(config_override=config) as db:
        exp = db.add_experiment(search)
        start = time.perf_counter()
        workers = [
            multiprocessing.Process(target=_worker, args=(config, name, args.folds)) for _ in range(args.workers)
        ]
        for process in workers:
            process.start()
        for process in workers:
            process.join()
        wall = time.perf_counter() - start
        jobs = list(exp.all_jobs())
        best = exp.best_job("accuracy", "max")
    assert best is not None
    fitted = sum(len(job.results.get("accuracy_folds", [])) for job in jobs)
    x, x_test, y, y_test = _data()
    from schedy.integrations.sklearn import estimator_params

    model = _pipeline().set_params(**estimator_params(_pipeline(), best.hyperparameters, PARAMS)).fit(x, y)
    return {
        "fits": fitted,
        "wall": wall,
        "cv": float(best.results["accuracy"]),
        "test": float(model.score(x_test, y_test)),
        "pruned": sum(job.status == schedy.Job.PRUNED for job in jobs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--search", choices=("random", "tpe"), default="random", help="the search both runs use")
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"none": [], "asha": []}
    with tempfile.TemporaryDirectory() as home, ServiceProcess.start(Path(home)) as service:
        config = service.new_user().client_config
        for seed in args.seeds:
            for method in ("none", "asha"):
                found = _run(config, f"{method}-{seed}", args, seed, prune=method == "asha")
                rows[method].append(found)
                print(f"seed {seed} {method}: {found}", flush=True)
    print()
    print("| method | folds fitted | wall s | best CV accuracy | its test accuracy | pruned jobs |")
    print("|---|---|---|---|---|---|")
    for method, found in rows.items():
        med = {key: statistics.median(r[key] for r in found) for key in found[0]}
        spread = {key: (min(r[key] for r in found), max(r[key] for r in found)) for key in found[0]}
        print(
            f"| {method} | {med['fits']:.0f} ({spread['fits'][0]}–{spread['fits'][1]}) | {med['wall']:.1f} "
            f"| {med['cv']:.4f} ({spread['cv'][0]:.4f}–{spread['cv'][1]:.4f}) "
            f"| {med['test']:.4f} ({spread['test'][0]:.4f}–{spread['test'][1]:.4f}) | {med['pruned']:.0f} |"
        )


if __name__ == "__main__":
    main()
