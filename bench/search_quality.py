"""Search quality: Schedy's TPE and random search through the real service, beside Optuna 5's default TPE.

One command::

    python bench/search_quality.py [--functions branin,hartmann6,mixed,mlp] [--seeds 10] [--workers 1,4,8]
                                   [--jobs 100] [--train-seconds 0.02] [--json out.json]

starts a throwaway ``schedy server`` (SQLite), then for every function, worker
count and seed runs:

* **schedy TPE**: a ``TPESearch`` experiment (default options, ``seed``
  option = the seed, ``max_jobs`` = the budget) worked by W real worker
  processes (our client: ``exp.jobs()``, ``with job:``), asynchronously:
  each worker claims, trains (sleeps ``--train-seconds`` ± 50 %), reports,
  claims again; the experiment is DONE when the budget is spent.
* **schedy random**: the same with ``RandomSearch`` (i.i.d. draws).
* **schedy sobol**: the same with ``RandomSearch(sampler="sobol")``: the
  points of one scrambled Sobol sequence in order (``--no-sobol`` leaves
  it out).
* **Optuna TPE**: ``optuna.create_study(sampler=TPESampler(seed=seed))``
  (Optuna 5's defaults: multivariate, constant liar) with
  ``study.optimize(n_trials=budget, n_jobs=W)``, the same objective and sleep.

The table gives the median regret (best value found − the optimum) over the
seeds; lower is better.

Functions: Branin (2 floats), Hartmann-6 (6 floats in [0, 1]), "mixed":
Branin plus a categorical (3 values, penalties 0/1/2) and a log-scaled
integer in [1, 100] (penalty |ln k − ln 20|); and a real model, "mlp": the
validation error of scikit-learn's MLPClassifier on digits (a fixed half
split, 10 epochs of Adam, batch 64, a fixed weight seed) over the learning
rate and L2 penalty (log floats), the hidden units (a log integer in
[4, 128]) and the activation (a categorical of 3), whose regret is
measured to the best error any method found in the run. The real model
trains for real (no sleep).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# One BLAS thread per process: W workers training the MLP on 2 cores must not each start a thread per core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from _common import CTX, backend, command_line, log, save_json, server, table, versions  # noqa: E402 - after the env

BRANIN_OPT = 0.397887
HARTMANN_OPT = -3.32237
_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(h: dict[str, Any]) -> float:
    x1, x2 = h["x1"], h["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(h: dict[str, Any]) -> float:
    x = [h[f"x{i}"] for i in range(6)]
    return -sum(_ALPHA[i] * math.exp(-sum(_A[i][j] * (x[j] - _P[i][j]) ** 2 for j in range(6))) for i in range(4))


def mixed(h: dict[str, Any]) -> float:
    return branin(h) + {"a": 0.0, "b": 1.0, "c": 2.0}[h["c"]] + abs(math.log(h["k"]) - math.log(20))


def schedy_space(function: str) -> dict[str, Any]:
    from schedy.random import Choice, Integer, LogUniform, Uniform

    if function == "hartmann6":
        return {f"x{i}": Uniform(0, 1) for i in range(6)}
    if function == "mlp":
        return {
            "lr": LogUniform(1e-4, 1.0),
            "alpha": LogUniform(1e-6, 1.0),
            "hidden": Integer(4, 128, log=True),
            "activation": Choice(["relu", "tanh", "logistic"]),
        }
    space: dict[str, Any] = {"x1": Uniform(-5, 10), "x2": Uniform(0, 15)}
    if function == "mixed":
        space.update({"c": Choice(["a", "b", "c"]), "k": Integer(1, 100, log=True)})
    return space


def optuna_params(trial: Any, function: str) -> dict[str, Any]:
    if function == "hartmann6":
        return {f"x{i}": trial.suggest_float(f"x{i}", 0, 1) for i in range(6)}
    if function == "mlp":
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
            "alpha": trial.suggest_float("alpha", 1e-6, 1.0, log=True),
            "hidden": trial.suggest_int("hidden", 4, 128, log=True),
            "activation": trial.suggest_categorical("activation", ["relu", "tanh", "logistic"]),
        }
    h = {"x1": trial.suggest_float("x1", -5, 10), "x2": trial.suggest_float("x2", 0, 15)}
    if function == "mixed":
        h["c"] = trial.suggest_categorical("c", ["a", "b", "c"])
        h["k"] = trial.suggest_int("k", 1, 100, log=True)
    return h


_DIGITS: list[Any] = []


def mlp(h: dict[str, Any]) -> float:
    """A real model: the validation error of a small MLP on scikit-learn's digits (fixed split and seed)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    if not _DIGITS:
        # 10 epochs on purpose: silence it for good (catch_warnings is not thread-safe, and Optuna's are threads).
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        _DIGITS.extend(train_test_split(x / 16.0, y, test_size=0.5, random_state=0))
    x_train, x_valid, y_train, y_valid = _DIGITS
    model = MLPClassifier(
        hidden_layer_sizes=(int(h["hidden"]),),
        activation=h["activation"],
        learning_rate_init=h["lr"],
        alpha=h["alpha"],
        batch_size=64,
        max_iter=10,
        random_state=0,
    )
    model.fit(x_train, y_train)
    return float(1.0 - model.score(x_valid, y_valid))


#: name: (function, optimum; None: the best value any method found in the run)
FUNCTIONS: dict[str, tuple[Any, float | None]] = {
    "branin": (branin, BRANIN_OPT),
    "hartmann6": (hartmann6, HARTMANN_OPT),
    "mixed": (mixed, BRANIN_OPT),
    "mlp": (mlp, None),
}


#: Functions that train for real: no sleep added.
REAL = {"mlp"}


def _train(seconds: float, rng: random.Random) -> None:
    if seconds:
        time.sleep(seconds * rng.uniform(0.5, 1.5))


def _worker(config: dict[str, str], name: str, function: str, train_seconds: float, index: int) -> None:
    import schedy

    f = FUNCTIONS[function][0]
    train_seconds = 0.0 if function in REAL else train_seconds
    rng = random.Random(index)
    with schedy.SchedyDB(config_override=config, worker=f"w{index}") as db:
        exp = db.get_experiment(name)
        for job in exp.jobs():
            with job:
                _train(train_seconds, rng)
                job.results["y"] = f(dict(job.hyperparameters))


def run_schedy(config: dict[str, str], kind: str, function: str, seed: int, workers: int, args: Any) -> float:
    import schedy

    name = f"{kind}-{function}-{seed}-{workers}-{time.monotonic_ns()}"
    space = schedy_space(function)
    if kind == "tpe":
        exp: Any = schedy.TPESearch(name, space, schedy.MINIMIZE, "y", max_jobs=args.jobs)
    else:
        exp = schedy.RandomSearch(name, space, max_jobs=args.jobs, sampler="sobol" if kind == "sobol" else "iid")
    exp.extra["seed"] = seed
    with schedy.SchedyDB(config_override=config) as db:
        db.add_experiment(exp)
        procs = [
            CTX.Process(target=_worker, args=(config, name, function, args.train_seconds, i)) for i in range(workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(600)
        values = [j.results.get("y") for j in db.get_experiment(name).all_jobs() if j.status == "DONE"]
    values = [v for v in values if isinstance(v, (int, float))]
    return min(values)


def run_optuna(function: str, seed: int, workers: int, args: Any) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    f = FUNCTIONS[function][0]
    rng = random.Random(seed)

    train_seconds = 0.0 if function in REAL else args.train_seconds

    def objective(trial: Any) -> float:
        h = optuna_params(trial, function)
        _train(train_seconds, rng)
        return f(h)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=args.jobs, n_jobs=workers)
    return float(study.best_value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="branin,hartmann6,mixed,mlp")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", default="1,4,8")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--train-seconds", type=float, default=0.02)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--budget-minutes", type=float, default=0.0, help="stop after the last seed that fits")
    parser.add_argument("--no-sobol", dest="sobol", action="store_false", help="leave quasi-random search out")
    args = parser.parse_args()
    functions = args.functions.split(",")
    worker_counts = [int(w) for w in args.workers.split(",")]
    results: dict[str, dict[str, list[float]]] = {}
    start = time.monotonic()
    with backend("sqlite") as db, server(db.directory, db.new_url("quality")) as service:
        config = service.new_user().client_config
        # Seed by seed over every cell, so that a run cut short by --budget-minutes is still balanced.
        for seed in range(args.seeds):
            for function in functions:
                for workers in worker_counts:
                    key = f"{function} W={workers}"
                    row = results.setdefault(key, {"schedy TPE": [], "Optuna TPE": [], "schedy random": []})
                    row["schedy TPE"].append(run_schedy(config, "tpe", function, seed, workers, args))
                    row["Optuna TPE"].append(run_optuna(function, seed, workers, args))
                    row["schedy random"].append(run_schedy(config, "random", function, seed, workers, args))
                    if args.sobol:
                        sobol = run_schedy(config, "sobol", function, seed, workers, args)
                        row.setdefault("schedy sobol", []).append(sobol)
            log(f"seed {seed} done", f"{time.monotonic() - start:.0f} s")
            save_json(args.json, {"args": vars(args) | {"json": str(args.json)}, "results": results})
            elapsed = time.monotonic() - start
            if args.budget_minutes and elapsed * (seed + 2) / (seed + 1) > 60 * args.budget_minutes:
                log(f"stopping after {seed + 1} seeds: the next would overrun --budget-minutes")
                break
    header = ["function, workers", "schedy TPE", "Optuna 5 TPE", "random (schedy)", "TPE / Optuna", "random / TPE"]
    if args.sobol:
        header += ["sobol (schedy)", "random / sobol"]
    rows = []
    for key, row in results.items():
        function = key.split()[0]
        optimum = FUNCTIONS[function][1]
        if optimum is None:  # unknown: regret to the best any method found at any worker count
            optimum = min(v for k, r in results.items() if k.split()[0] == function for vs in r.values() for v in vs)
        regrets = {k: [v - optimum for v in vs] for k, vs in row.items()}
        ours, theirs, rand = (statistics.median(regrets[k]) for k in ("schedy TPE", "Optuna TPE", "schedy random"))
        ratio = f"{ours / theirs:.2f}" if theirs > 0 else ("1.00" if ours == 0 else "inf")
        gain = f"{rand / ours:.1f}" if ours > 0 else "inf"
        rows.append([key, f"{ours:.4g}", f"{theirs:.4g}", f"{rand:.4g}", ratio, gain])
        if "schedy sobol" in regrets:
            sobol = statistics.median(regrets["schedy sobol"])
            rows[-1] += [f"{sobol:.4g}", f"{rand / sobol:.2f}" if sobol > 0 else "inf"]
    seeds = len(next(iter(results.values()))["schedy TPE"])
    print(f"\n{command_line()}\n{versions()}\nmedian regret over {seeds} seeds, {args.jobs} jobs\n")
    print(table(header, rows))
    save_json(args.json, {"args": vars(args) | {"json": str(args.json)}, "results": results, "versions": versions()})


if __name__ == "__main__":
    main()
