"""Early stopping: training steps saved and best value kept, Schedy's policies beside Optuna's pruners.

Two measurements, one command each::

    python bench/early_stopping.py quality [--families mlp,synthetic] [--seeds 5] [--configs 100]
                                           [--epochs 27] [--workers 4] [--step-seconds 0.02] [--json out.json]
    python bench/early_stopping.py cost [--backends sqlite,postgres] [--sizes 1000,10000,100000]
                                        [--workers 4] [--reps 3] [--duration 4] [--json out.json]

**quality.** For every curve family and seed, ``--configs`` configurations
and their learning curves (one value per epoch, ``--epochs`` epochs) are
computed once (and cached in ``--cache``), so that every method sees the
same curves; then each method works through the same configurations, in
the same order, with ``--workers`` worker processes that replay the curves
(sleeping ``--step-seconds`` ± 50 % per epoch, the "training"):

* **none**: a Schedy ``ManualSearch`` of the configurations, no policy:
  every configuration trained to its end (the reference);
* **Schedy ASHA** (``ASHA(metric, objective, min_step=1, reduction_factor=3,
  max_step=epochs)``), **Schedy median** (``Median(metric, objective)``,
  defaults), **Schedy median value** (``Median(metric, objective,
  compare="value")``: the others' values at the step, as Optuna's
  MedianPruner), **Schedy ASHA m3** (``min_step=3``: the first rung at a ninth
  of the budget) and **Schedy Hyperband** (``min_step=1, max_step=epochs``):
  the same search with ``early_stopping=``; workers report every epoch
  (``job.report``) and raise ``JobPruned`` when told to stop;
* **Optuna SH** (``SuccessiveHalvingPruner(min_resource=1,
  reduction_factor=3)``: the same rungs), **Optuna SH m3**
  (``min_resource=3``), **Optuna median**
  (``MedianPruner()``, defaults) and **Optuna Hyperband**
  (``HyperbandPruner(min_resource=1, max_resource=epochs,
  reduction_factor=3)``): a study on RDB storage (an SQLite file) worked
  by the same number of processes (``ask``, ``report``, ``should_prune``,
  ``tell``), each taking the next configuration from a shared counter (not
  ``enqueue_trial``: with several processes on SQLite two of them may pop
  the same waiting trial).

For each run: the **training steps** spent (epochs trained, over every
configuration), and the **best final value** (the best value reported at
the last epoch, by any configuration trained to its end, whatever its end
state: Optuna's SH prunes at its rung 27 = the last epoch). The goal: ASHA and the median
rule reach a best final value within 0.5 % of the reference while spending
at least 3× fewer steps.

Families: **mlp**, scikit-learn's ``MLPClassifier`` (32 hidden units, SGD
with momentum, batches of 64) on the digits (a fixed half/half split),
``partial_fit`` one epoch at a time, validation accuracy (max) after each;
learning rate log-uniform in [1e-4, 1], ``alpha`` log-uniform in [1e-6,
1e-1]. **synthetic**, a validation loss (min) ``floor + amp · t^(-speed)``
plus Gaussian noise (σ = 0.003) whose parameters come from two uniform
hyperparameters u, v: the floor is lowest at u = 0.55, v = 0.3, the speed
grows with u (fast learners plateau higher, so curves cross), and runs with
u > 0.95 diverge (NaN from epoch 3).

**cost.** An experiment under ASHA holding N DONE jobs of 20 reports each
(loaded through the store), a queue of jobs, and W worker processes that
claim a job and, for ``--duration`` seconds, either send reports
(``job.report(step, loss=…)``, steps 1 … 20 then the next job) or update
their job (``job.results[…] = …; job.put()``, the job update of the
throughput benchmark), in alternating windows; with ``--batch N``, also
reports sent N at a time (``job.report_many``, as ``job.buffered_reports``
sends them), counted per report. Reported: requests/s,
latency p50/p99 of each, and how long the first report took (the service
process builds its early-stopping state from the N × 20 reports then);
``--reps 0`` measures that first report only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CTX,
    Spread,
    backend,
    bulk_load,
    command_line,
    experiment_id,
    log,
    rss_now,
    run_workers,
    save_json,
    server,
    table,
    versions,
)

#: family: (metric, objective)
FAMILIES = {"mlp": ("accuracy", "max"), "synthetic": ("loss", "min")}
SCHEDY_METHODS = ("none", "Schedy ASHA", "Schedy ASHA m3", "Schedy median", "Schedy median value", "Schedy Hyperband")
OPTUNA_METHODS = ("Optuna SH", "Optuna SH m3", "Optuna median", "Optuna Hyperband")
METHODS = SCHEDY_METHODS + OPTUNA_METHODS
#: Schedy's policy and the Optuna pruner it is compared with seed by seed.
PAIRS = (
    ("Schedy ASHA", "Optuna SH"),
    ("Schedy ASHA m3", "Optuna SH m3"),
    ("Schedy median", "Optuna median"),
    ("Schedy median value", "Optuna median"),
    ("Schedy Hyperband", "Optuna Hyperband"),
)

Curves = list[tuple[dict[str, float], list[float]]]


# -- the curves -------------------------------------------------------------------------------


def mlp_curves(seed: int, n: int, epochs: int) -> Curves:
    """Validation accuracy per epoch of ``n`` MLPs on the digits, hyperparameters drawn with ``seed``."""
    import warnings

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore")  # ConvergenceWarning of tiny learning rates: that is the point
    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x / 16.0, y, test_size=0.5, random_state=0)
    classes = np.unique(y)
    rng = random.Random(seed)
    out: Curves = []
    for _ in range(n):
        hps = {"lr": 10 ** rng.uniform(-4, 0), "alpha": 10 ** rng.uniform(-6, -1)}
        model = MLPClassifier(
            hidden_layer_sizes=(32,),
            solver="sgd",
            momentum=0.9,
            learning_rate_init=hps["lr"],
            alpha=hps["alpha"],
            batch_size=64,
            random_state=rng.randrange(2**31),
        )
        curve = []
        for _epoch in range(epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            curve.append(float(model.score(x_valid, y_valid)))
        out.append((hps, curve))
    return out


def synthetic_curves(seed: int, n: int, epochs: int) -> Curves:
    """Power-law loss curves whose floor and speed depend on two uniform hyperparameters (see the docstring)."""
    rng = random.Random(seed)
    out: Curves = []
    for _ in range(n):
        u, v = rng.random(), rng.random()
        floor = 1.0 + 0.5 * (u - 0.55) ** 2 + 0.15 * (v - 0.3) ** 2
        speed = 0.4 + 1.6 * u
        amp = 1.0 + 0.5 * v
        curve = []
        for t in range(1, epochs + 1):
            curve.append(math.nan if u > 0.95 and t >= 3 else floor + amp * t ** (-speed) + rng.gauss(0, 0.003))
        out.append(({"u": u, "v": v}, curve))
    return out


def curves(family: str, seed: int, n: int, epochs: int, cache: Path) -> Curves:
    """The curves of a family and seed, computed once and kept in ``cache``."""
    path = cache / f"{family}-{seed}-{n}-{epochs}.json"
    if path.exists():
        return [(hps, curve) for hps, curve in json.loads(path.read_text())]
    t0 = time.perf_counter()
    made = (mlp_curves if family == "mlp" else synthetic_curves)(seed, n, epochs)
    log(f"{family} seed {seed}: {n} curves of {epochs} epochs computed in {time.perf_counter() - t0:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(made))
    return made


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _train(seconds: float, rng: random.Random) -> None:
    if seconds:
        time.sleep(seconds * rng.uniform(0.5, 1.5))


# -- Schedy -----------------------------------------------------------------------------------


def _schedy_worker(config: dict[str, str], name: str, table_: Curves, metric: str, seconds: float, i: int) -> None:
    import schedy
    from schedy.errors import JobPruned

    rng = random.Random(i)
    with schedy.SchedyDB(config_override=config, worker=f"w{i}") as db:
        exp = db.get_experiment(name)
        for job in exp.jobs(wait=1.0):
            with job:
                curve = table_[int(job.hyperparameters["config"])][1]
                for step, value in enumerate(curve, 1):
                    _train(seconds, rng)
                    job.results[metric] = _finite(value)
                    if job.report(step, **{metric: value}):
                        raise JobPruned()


def _policy(method: str, metric: str, objective: str, epochs: int) -> Any:
    from schedy.stopping import ASHA, Hyperband, Median

    if method.startswith("Schedy ASHA"):
        min_step = 3 if method.endswith("m3") else 1
        return ASHA(metric, objective, min_step=min_step, reduction_factor=3, max_step=epochs)
    if method == "Schedy median":
        return Median(metric, objective)
    if method == "Schedy median value":
        return Median(metric, objective, compare="value")
    if method == "Schedy Hyperband":
        return Hyperband(metric, objective, min_step=1, max_step=epochs, reduction_factor=3)
    return None


def run_schedy(config: dict[str, str], method: str, family: str, table_: Curves, args: Any) -> dict[str, Any]:
    import schedy

    metric, objective = FAMILIES[family]
    epochs = len(table_[0][1])
    name = f"{family}-{method.replace(' ', '-')}-{time.monotonic_ns()}"
    policy = _policy(method, metric, objective, epochs)
    exp = schedy.ManualSearch(name, early_stopping=policy) if policy is not None else schedy.ManualSearch(name)
    with schedy.SchedyDB(config_override=config) as db:
        db.add_experiment(exp)
        for index, (hps, _curve) in enumerate(table_):
            exp.add_job(hyperparameters={"config": index, **hps})
        t0 = time.perf_counter()
        procs = [
            CTX.Process(target=_schedy_worker, args=(config, name, table_, metric, args.step_seconds, i))
            for i in range(args.workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(1800)
        seconds = time.perf_counter() - t0
        steps: dict[str, int] = {}
        finals = []
        for report in exp.reports():
            steps[report["job"]] = max(steps.get(report["job"], 0), report["step"])
            value = report["metrics"].get(metric)
            if report["step"] == epochs and value is not None:
                finals.append(float(value))
        statuses: dict[str, int] = {}
        for job in exp.all_jobs():
            statuses[job.status] = statuses.get(job.status, 0) + 1
    return _outcome(finals, sum(steps.values()), seconds, objective, statuses)


# -- Optuna -----------------------------------------------------------------------------------


def _pruner(method: str, epochs: int) -> Any:
    import optuna

    if method.startswith("Optuna SH"):
        min_resource = 3 if method.endswith("m3") else 1
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=3)
    if method == "Optuna median":
        return optuna.pruners.MedianPruner()
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)


def _optuna_worker(storage: str, name: str, method: str, table_: Curves, seconds: float, counter: Any, i: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(i)
    epochs = len(table_[0][1])
    study = optuna.load_study(study_name=name, storage=storage, pruner=_pruner(method, epochs))
    while True:
        with counter.get_lock():
            index = counter.value
            if index >= len(table_):
                return
            counter.value += 1
        trial = study.ask()
        trial.set_user_attr("config", index)  # the pruners look at intermediate values only
        curve = table_[index][1]
        for step, value in enumerate(curve, 1):
            _train(seconds, rng)
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, curve[-1])  # NaN: Optuna marks the trial FAIL


def run_optuna(storage: str, method: str, family: str, table_: Curves, args: Any) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _metric, objective = FAMILIES[family]
    epochs = len(table_[0][1])
    name = f"{family}-{method.replace(' ', '-')}-{time.monotonic_ns()}"
    direction = "maximize" if objective == "max" else "minimize"
    study = optuna.create_study(study_name=name, storage=storage, direction=direction)
    counter = CTX.Value("i", 0)
    t0 = time.perf_counter()
    procs = [
        CTX.Process(target=_optuna_worker, args=(storage, name, method, table_, args.step_seconds, counter, i))
        for i in range(args.workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(1800)
    seconds = time.perf_counter() - t0
    finals, steps, statuses = [], 0, {}
    for trial in study.get_trials(deepcopy=False):
        statuses[trial.state.name] = statuses.get(trial.state.name, 0) + 1
        steps += max(trial.intermediate_values, default=0)
        if epochs in trial.intermediate_values:  # pruned at its last step (SH's rung at 27) counts too
            finals.append(float(trial.intermediate_values[epochs]))
    return _outcome(finals, steps, seconds, objective, statuses)


def _outcome(
    finals: list[float], steps: int, seconds: float, objective: str, statuses: dict[str, int]
) -> dict[str, Any]:
    finals = [v for v in finals if math.isfinite(v)]
    best = (max if objective == "max" else min)(finals) if finals else math.nan
    return {"best": best, "steps": steps, "seconds": seconds, "finished": len(finals), "statuses": statuses}


# -- quality: the run ---------------------------------------------------------------------------


def quality(args: argparse.Namespace) -> None:
    methods = [m for m in METHODS if m in args.methods.split(",")]
    records: list[dict[str, Any]] = []
    with backend("sqlite") as db, server(db.directory, db.new_url("es")) as service:
        config = service.new_user().client_config
        for family in args.families.split(","):
            for seed in range(args.seeds):
                table_ = curves(family, seed, args.configs, args.epochs, args.cache)
                rng = random.Random(seed)
                order = methods[:]  # a fresh order per seed: no method always runs first on a quiet machine
                rng.shuffle(order)
                for method in order:
                    if method in OPTUNA_METHODS:
                        storage = f"sqlite:///{db.directory / f'optuna-{family}-{seed}-{len(records)}.db'}"
                        outcome = run_optuna(storage, method, family, table_, args)
                    else:
                        outcome = run_schedy(config, method, family, table_, args)
                    outcome.update(family=family, seed=seed, method=method)
                    records.append(outcome)
                    log(
                        f"{family:9} seed {seed} {method:16} best {outcome['best']:.4f}  steps {outcome['steps']:5}  "
                        f"{outcome['seconds']:5.1f} s  {outcome['statuses']}"
                    )
    print(f"\n{command_line()}\n{versions()}\n")
    print(quality_table(records, methods, args))
    print()
    print(pairs_table(records, args))
    save_json(
        args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "records": records, "versions": versions()}
    )


def quality_table(records: list[dict[str, Any]], methods: list[str], args: argparse.Namespace) -> str:
    """Per family and method: steps saved and gap to the reference, medians over seeds, and the goal's count."""
    header = [
        "family",
        "method",
        "steps (median)",
        "fewer steps than none",
        "best final",
        "gap to none",
        "seeds ≤ 0.5 %",
    ]
    rows = []
    for family in args.families.split(","):
        objective = FAMILIES[family][1]
        ref = {r["seed"]: r for r in records if r["family"] == family and r["method"] == "none"}
        for method in methods:
            mine = [r for r in records if r["family"] == family and r["method"] == method]
            if not mine:
                continue
            saving = [ref[r["seed"]]["steps"] / r["steps"] for r in mine if r["seed"] in ref]
            gaps = []
            for r in mine:
                if r["seed"] in ref:
                    base = ref[r["seed"]]["best"]
                    worse = (base - r["best"]) if objective == "max" else (r["best"] - base)
                    gaps.append(100 * worse / abs(base) if math.isfinite(r["best"]) else math.inf)
            rows.append(
                [
                    family,
                    method,
                    f"{statistics.median(r['steps'] for r in mine):,.0f}",
                    Spread(saving).fmt(1, "×") if saving else "-",
                    Spread([r["best"] for r in mine]).fmt(4),
                    Spread(gaps).fmt(2, " %") if gaps else "-",
                    f"{sum(g <= 0.5 for g in gaps)}/{len(gaps)}" if gaps else "-",
                ]
            )
    return table(header, rows)


def pairs_table(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Schedy beside Optuna seed by seed: Schedy's steps ÷ Optuna's (median, range); seeds where its best ≥ theirs."""
    header = ["family", "Schedy vs Optuna", "steps ratio", "best ≥ Optuna's"]
    rows = []
    for family in args.families.split(","):
        maximize = FAMILIES[family][1] == "max"
        for mine, theirs in PAIRS:
            ours = {r["seed"]: r for r in records if r["family"] == family and r["method"] == mine}
            peer = {r["seed"]: r for r in records if r["family"] == family and r["method"] == theirs}
            seeds = sorted(ours.keys() & peer.keys())
            if not seeds:
                continue
            ratios = [ours[s]["steps"] / peer[s]["steps"] for s in seeds]
            as_good = sum(
                (ours[s]["best"] >= peer[s]["best"]) if maximize else (ours[s]["best"] <= peer[s]["best"])
                for s in seeds
            )
            rows.append([family, f"{mine} vs {theirs}", Spread(ratios).fmt(2, "×"), f"{as_good}/{len(seeds)}"])
    return table(header, rows)


# -- cost: a report beside a job update -------------------------------------------------------------

REPORTS_PER_JOB = 20


def load_reports(url: str, exp_id: int) -> float:
    """Give every job of the experiment 20 reports (steps 1 … 20, a random loss) through the store; seconds."""
    from sqlalchemy import select

    from schedy.server.store import Store
    from schedy.server.store.tables import jobs

    store = Store(url, pool_size=1)
    rng = random.Random(exp_id)
    marker = "?" if store.is_sqlite else "%s"
    columns = "experiment_id, job_pk, step, metrics, created_at"
    sql = f"INSERT INTO reports ({columns}) VALUES ({', '.join([marker] * 5)})"
    t0 = time.perf_counter()
    try:
        with store.write() as conn:
            pks = conn.execute(select(jobs.c.pk).where(jobs.c.experiment_id == exp_id).order_by(jobs.c.pk)).scalars()
            now = time.time()
            rows = []
            for pk in pks:
                for step in range(1, REPORTS_PER_JOB + 1):
                    rows.append((exp_id, pk, step, f'{{"loss":{rng.random() + 1 / step!r}}}', now))
            if store.is_sqlite:
                conn.exec_driver_sql(sql, rows)
            else:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                with raw.cursor() as cur, cur.copy(f"COPY reports ({columns}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
        if not store.is_sqlite:
            with store.write() as conn:
                conn.exec_driver_sql("ANALYZE reports")
    finally:
        store.dispose()
    return time.perf_counter() - t0


def cost_worker(
    config: dict[str, str], name: str, kind: str, duration: float, batch: int = 1, *, ready: Any, go: Any
) -> dict[str, Any]:
    """For ``duration`` s: claim a job, send it 20 reports (or 20 updates), end it; latencies of those requests.

    ``kind`` "batch": the 20 reports go ``batch`` at a time (``job.report_many``); cycles count reports.
    """
    import schedy

    db = schedy.SchedyDB(config_override=config)
    exp = db.get_experiment(name)
    rng = random.Random()
    clock = time.perf_counter
    with exp.next_job() as job:  # warm-up: log in, open the connection
        job.report(1, loss=0.0)
        job.put()
    latencies: list[float] = []
    stopped = 0
    sent = 0
    ready.set()
    go.wait()
    cpu = time.process_time()
    end = clock() + duration
    while clock() < end:
        with exp.next_job() as job:  # claim and end: not timed
            for step in range(1, REPORTS_PER_JOB + 1):
                if clock() >= end:
                    break
                if kind == "batch":
                    if (step - 1) % batch:
                        continue
                    steps = range(step, min(step + batch, REPORTS_PER_JOB + 1))
                    t0 = clock()
                    stopped += job.report_many([(s, {"loss": -time.time()}) for s in steps])
                    latencies.append(clock() - t0)
                    sent += len(steps)
                    continue
                if kind == "report":
                    t0 = clock()
                    # Better than every value before it, at every rung: never stopped, so every report is
                    # decided by the policy (a stopped job's reports are answered from its row, cheaper).
                    stopped += job.report(step, loss=-time.time())
                else:
                    job.results["loss"] = rng.random()
                    t0 = clock()
                    job.put(safe=kind == "update")  # "update-any": no If-Match, whatever the job's version
                latencies.append(clock() - t0)
    return {
        "cycles": sent if kind == "batch" else len(latencies),
        "seconds": duration,
        "latencies": latencies,
        "errors": stopped,
        "exhausted": False,
        "rss": rss_now(),
        "cpu": time.process_time() - cpu,
    }


def cost(args: argparse.Namespace) -> None:
    import schedy
    from schedy.stopping import ASHA

    records: list[dict[str, Any]] = []
    for kind in args.backends.split(","):
        with backend(kind) as be:
            for size in [int(s) for s in args.sizes.split(",")]:
                url = be.new_url(f"cost-{size}")
                with server(be.directory, url) as service:
                    user = service.new_user()
                    config = user.client_config
                    name = f"cost-{size}"
                    policy = ASHA("loss", "min", min_step=1, reduction_factor=3, max_step=REPORTS_PER_JOB)
                    with schedy.SchedyDB(config_override=config) as db:
                        db.add_experiment(schedy.ManualSearch(name, early_stopping=policy))
                    exp_id = experiment_id(url, user.email, name)
                    load_jobs = bulk_load(url, exp_id, size, status="DONE")
                    load = load_reports(url, exp_id)
                    # At most 1,000 requests/s per worker; a job takes 20 of them (20 / batch when batched).
                    per_job = [REPORTS_PER_JOB] * (3 if args.unconditional else 2)
                    per_job += [max(1, REPORTS_PER_JOB // args.batch)] * (args.batch > 1)
                    queue = args.workers * (sum(args.reps * int(args.duration * 1000) // n for n in per_job) + 4)
                    bulk_load(url, exp_id, queue, status="QUEUED")
                    with schedy.SchedyDB(config_override=config) as db, db.get_experiment(name).next_job() as job:
                        t0 = time.perf_counter()
                        job.report(1, loss=0.0)  # the service process builds its state from every report
                        first = time.perf_counter() - t0
                    log(
                        f"{kind:8} {size:>7,} jobs: loaded in {load_jobs:.0f} + {load:.0f} s; "
                        f"first report {first * 1000:.0f} ms"
                    )
                    records.append({"backend": kind, "jobs": size, "kind": "first", "first_report_ms": first * 1000})
                    pid = service.process.pid
                    kinds = ["report", "update"] + (["batch"] if args.batch > 1 else [])
                    kinds += ["update-any"] if args.unconditional else []
                    for rep in range(args.reps):
                        for what in kinds if rep % 2 == 0 else kinds[::-1]:
                            run = run_workers(
                                cost_worker,
                                (config, name, what, args.duration, args.batch),
                                args.workers,
                                server_pid=pid,
                            )
                            record = {
                                "backend": kind,
                                "jobs": size,
                                "rep": rep,
                                "kind": what,
                                "rate": run.rate,
                                "p50_ms": run.pct(50) * 1000,
                                "p99_ms": run.pct(99) * 1000,
                                "server_us": run.server_us,
                                "stopped": run.errors,
                                "first_report_ms": first * 1000,
                                "batch": args.batch,
                            }
                            records.append(record)
                            log(
                                f"{kind:8} {size:>7,} rep {rep} {what:6} {run.rate:7.0f}/s"
                                + (" (reports)" if what == "batch" else "")
                                + f"  p50 {record['p50_ms']:.2f} ms"
                                f"  p99 {record['p99_ms']:.2f} ms  server CPU {run.server_us:.0f} µs/request"
                                + (f"  STOPPED {run.errors}" if run.errors else "")
                            )
    print(f"\n{command_line()}\n{versions()}\n")
    print(cost_table(records))
    save_json(
        args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "records": records, "versions": versions()}
    )


def cost_table(records: list[dict[str, Any]]) -> str:
    batch = next((r.get("batch", 1) for r in records if r["kind"] == "batch"), None)
    header = [
        "backend",
        "jobs (×20 reports)",
        "first report",
        "report/s",
        "update/s",
        "report p50 / p99",
        "update p50 / p99",
        "report cost / update cost",
    ]
    if batch is not None:
        header += [f"reports/s in batches of {batch}", "a batched report's cost / update cost"]
    unconditional = any(r["kind"] == "update-any" for r in records)
    if unconditional:
        header += ["update/s without If-Match", "report cost / that update's cost"]
    rows = []
    for kind in dict.fromkeys(r["backend"] for r in records):
        for size in dict.fromkeys(r["jobs"] for r in records if r["backend"] == kind):
            mine = [r for r in records if r["backend"] == kind and r["jobs"] == size]
            rep = {r["rep"]: r for r in mine if r["kind"] == "report"}
            upd = {r["rep"]: r for r in mine if r["kind"] == "update"}
            ratio = [upd[k]["rate"] / rep[k]["rate"] for k in rep if k in upd]
            bat = {r["rep"]: r for r in mine if r["kind"] == "batch"}
            batch_ratio = [upd[k]["rate"] / bat[k]["rate"] for k in bat if k in upd]
            anyv = {r["rep"]: r for r in mine if r["kind"] == "update-any"}
            any_ratio = [anyv[k]["rate"] / rep[k]["rate"] for k in rep if k in anyv]

            def pair(rs: dict[int, dict[str, Any]]) -> str:
                if not rs:  # --reps 0: the first report only
                    return "-"
                p50 = statistics.median(r["p50_ms"] for r in rs.values())
                p99 = statistics.median(r["p99_ms"] for r in rs.values())
                return f"{p50:.1f} / {p99:.1f} ms"

            rows.append(
                [
                    kind,
                    f"{size:,}",
                    f"{mine[0]['first_report_ms'] / 1000:.1f} s",
                    Spread([r["rate"] for r in rep.values()]).fmt(0) if rep else "-",
                    Spread([r["rate"] for r in upd.values()]).fmt(0) if upd else "-",
                    pair(rep),
                    pair(upd),
                    Spread(ratio).fmt(2, "×") if ratio else "-",
                    *(
                        []
                        if batch is None
                        else [
                            Spread([r["rate"] for r in bat.values()]).fmt(0) if bat else "-",
                            Spread(batch_ratio).fmt(2, "×") if batch_ratio else "-",
                        ]
                    ),
                    *(
                        [
                            Spread([r["rate"] for r in anyv.values()]).fmt(0) if anyv else "-",
                            Spread(any_ratio).fmt(2, "×") if any_ratio else "-",
                        ]
                        if unconditional
                        else []
                    ),
                ]
            )
    return table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality", help="steps saved and best value kept, beside Optuna's pruners")
    q.add_argument("--families", default="mlp,synthetic")
    q.add_argument("--methods", default=",".join(METHODS))
    q.add_argument("--seeds", type=int, default=5)
    q.add_argument("--configs", type=int, default=100)
    q.add_argument("--epochs", type=int, default=27)
    q.add_argument("--workers", type=int, default=4)
    q.add_argument("--step-seconds", type=float, default=0.02)
    q.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "schedy-bench" / "early-stopping")
    q.add_argument("--json", type=Path)
    c = sub.add_parser("cost", help="a report round trip beside a job update, 1k to 100k jobs of 20 reports")
    c.add_argument("--backends", default="sqlite,postgres")
    c.add_argument("--sizes", default="1000,10000,100000")
    c.add_argument("--workers", type=int, default=4)
    c.add_argument("--reps", type=int, default=3)
    c.add_argument("--duration", type=float, default=4.0)
    c.add_argument(
        "--unconditional",
        action="store_true",
        help="also time job updates sent without If-Match (job.put(safe=False)), as the report's own check is",
    )
    c.add_argument(
        "--batch",
        type=int,
        default=1,
        help="also time reports sent N at a time (job.report_many), counted per report (default 1: not timed)",
    )
    c.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.what == "quality":
        quality(args)
    else:
        cost(args)


if __name__ == "__main__":
    main()
