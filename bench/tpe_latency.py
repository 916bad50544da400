"""Claim latency of a TPE search with a long history, beside Optuna 5's TPESampler ask on the same history.

One command::

    python bench/tpe_latency.py [--sizes 1000,10000] [--claims 50] [--database sqlite|postgres] [--json out.json]

For each size n: a ``TPESearch`` experiment over two floats (``x``, ``y`` in
[−10, 10], minimise ``loss``) gets n DONE jobs loaded straight into the
database (``_common.bulk_load``), then one worker claims (``exp.next_job()``
of the Schedy client, timed; ``--client httpx``: a raw ``POST nextjob``
through httpx, whose own overhead is about 1 ms here) and finishes (``PUT``
DONE, not timed) ``--claims`` jobs one after the other. The first claim
reads the history cold (a full read) and is reported apart. Beside it, an in-memory Optuna study with the same n
trials (``study.add_trials``) and ``TPESampler()`` defaults times
``study.ask()`` plus the two ``suggest_float`` calls (where its TPE runs),
then ``tell``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    backend,
    bulk_load,
    command_line,
    experiment_id,
    log,
    percentile,
    save_json,
    server,
    table,
    versions,
)


def schedy_claims(service: Any, n: int, claims: int, client: str = "schedy") -> tuple[float, list[float]]:
    """The first claim's time and the later ones', through the Schedy client (``exp.next_job()``) or httpx."""
    import schedy
    from schedy.random import Uniform

    user = service.new_user()
    name = f"tpe-{n}"
    with schedy.SchedyDB(config_override=user.client_config) as db:
        db.add_experiment(schedy.TPESearch(name, {"x": Uniform(-10, 10), "y": Uniform(-10, 10)}, "min", "loss"))
        bulk_load(service.database_url, experiment_id(service.database_url, user.email, name), n, status="DONE")
        if client == "httpx":
            times = _httpx_claims(service, user, name, claims)
        else:
            exp, times = db.get_experiment(name), []
            for _ in range(claims + 1):
                t0 = time.perf_counter()
                job = exp.next_job()
                times.append(time.perf_counter() - t0)
                with job:  # DONE, not timed
                    h = job.hyperparameters
                    job.results["loss"] = h["x"] ** 2 + h["y"] ** 2
    return times[0], times[1:]


def _httpx_claims(service: Any, user: Any, name: str, claims: int) -> list[float]:
    """The same claims as raw HTTP requests through httpx (how this benchmark timed them before 2026-12-05)."""
    import httpx

    with httpx.Client(base_url=service.url, timeout=120) as http:
        jwt = http.post("token/", json={"email": user.email, "token": user.api_token}).json()["token"]
        http.headers["Authorization"] = f"Bearer {jwt}"
        times = []
        for _ in range(claims + 1):
            t0 = time.perf_counter()
            answer = http.post(f"experiments/{name}/nextjob/", json={"worker": "bench"})
            times.append(time.perf_counter() - t0)
            assert answer.status_code == 200, answer.text
            job = answer.json()
            h = job["hyperparameters"]
            http.put(
                f"experiments/{name}/jobs/{job['id']}/",
                json={"status": "DONE", "hyperparameters": h, "results": {"loss": h["x"] ** 2 + h["y"] ** 2}},
                headers={"If-Match": answer.headers["etag"]},
            )
    return times


def optuna_asks(n: int, claims: int) -> list[float]:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(n)
    dists = {"x": FloatDistribution(-10, 10), "y": FloatDistribution(-10, 10)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    trials = []
    for _ in range(n):
        x, y = rng.uniform(-10, 10), rng.uniform(-10, 10)
        trials.append(optuna.trial.create_trial(params={"x": x, "y": y}, distributions=dists, value=x * x + y * y))
    study.add_trials(trials)
    times = []
    for _ in range(claims):
        t0 = time.perf_counter()
        trial = study.ask()
        x, y = trial.suggest_float("x", -10, 10), trial.suggest_float("y", -10, 10)
        times.append(time.perf_counter() - t0)
        study.tell(trial, x * x + y * y)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--optuna-claims", type=int, default=10)
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument(
        "--client",
        default="schedy",
        choices=("schedy", "httpx"),
        help="time exp.next_job() of the Schedy client (default), or a raw POST through httpx",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, out = [], {}
    with backend(args.database) as db, server(db.directory, db.new_url("latency")) as service:
        for n in (int(s) for s in args.sizes.split(",")):
            cold, ours = schedy_claims(service, n, args.claims, args.client)
            theirs = optuna_asks(n, args.optuna_claims)
            ms = [1e3 * percentile(v, q) for v, q in ((ours, 50), (ours, 99), (theirs, 50), (theirs, 99))]
            out[n] = {"cold": cold, "schedy": ours, "optuna": theirs}
            ratio = ms[2] / ms[0]
            shown = f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
            rows.append([f"{n:,}", f"{1e3 * cold:.0f}", *(f"{v:.1f}" for v in ms), shown])
            log(rows[-1])
    header = [
        "DONE jobs",
        "first claim (cold) ms",
        "claim p50 ms",
        "claim p99 ms",
        "Optuna ask p50 ms",
        "Optuna ask p99 ms",
        "Optuna / schedy p50",
    ]
    print(f"\n{command_line()}\n{versions()}\n{args.database}\n")
    print(table(header, rows))
    save_json(args.json, {"args": vars(args) | {"json": str(args.json)}, "results": out, "versions": versions()})


if __name__ == "__main__":
    main()
