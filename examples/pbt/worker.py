"""A PBT worker: trains scikit-learn's SGDClassifier on the digits dataset, one interval per job.

The service runs Population Based Training (``docs/pbt.md``); this worker
only trains. For each job it

1. reloads the model its job continues: ``job.results["model_path"]`` names
   the parent's checkpoint (the service copied the parent's results into the
   new job; a new member has none and starts from scratch);
2. sets the learning rate (``eta0``, ``learning_rate="constant"``) and the
   regularisation (``alpha``) that PBT chose for this interval — after an
   exploit these are the better member's values, perturbed;
3. trains ``--epochs`` passes with ``partial_fit``, measures the validation
   accuracy, and saves the model to a **new** file (other members may still
   copy the old one);
4. puts ``accuracy`` and the new ``model_path`` in ``job.results``; ``with
   job:`` marks the job DONE and saves them (or CRASHED if training raised).

The digits dataset ships with scikit-learn: nothing is downloaded. Run as
many workers as you like against a running service, all sharing the
checkpoint directory::

    python examples/pbt/worker.py --experiment digits-pbt --checkpoints /shared/ckpt

or let ``examples/pbt/launch.py`` create the experiment and start them.
Needs ``pip install './[examples]'`` (scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits  # type: ignore[import-untyped]
from sklearn.linear_model import SGDClassifier  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

import schedy

CLASSES = np.arange(10)


@dataclass(frozen=True)
class Digits:
    """The digits dataset (8×8 images scaled to [0, 1]), split once and for all: 60/20/20 %."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any


def load_data() -> Digits:
    """The same split in every worker (fixed ``random_state``), so validation scores are comparable."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    return Digits(x_train, y_train, x_val, y_val, x_test, y_test)


def load_model(path: str) -> Any:
    """A checkpoint saved by :func:`save_model` (pickle: load only checkpoints you wrote)."""
    with open(path, "rb") as f:
        return pickle.load(f)


def save_model(model: Any, path: Path) -> None:
    """Save atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with open(partial, "wb") as f:
        pickle.dump(model, f)
    os.replace(partial, path)


def train_interval(job: schedy.Job, data: Digits, checkpoints: Path, epochs: int) -> None:
    """Train one PBT interval of ``job``'s model and record the results in ``job.results``."""
    hps = job.hyperparameters
    path = job.results.get("model_path")
    if path is None:  # a new member
        model = SGDClassifier(loss="log_loss", learning_rate="constant", random_state=0)
    else:
        model = load_model(path)
    # PBT's schedule: this interval's values, whatever the model was trained with before.
    model.set_params(eta0=hps["eta0"], alpha=hps["alpha"])
    rng = np.random.default_rng()
    for _ in range(epochs):
        order = rng.permutation(len(data.y_train))
        model.partial_fit(data.x_train[order], data.y_train[order], classes=CLASSES)
    accuracy = float(model.score(data.x_val, data.y_val))
    new_path = checkpoints / f"{job.id}.pkl"
    save_model(model, new_path)
    job.results.update(
        accuracy=accuracy,
        model_path=str(new_path.resolve()),
        epochs=job.results.get("epochs", 0) + epochs,
    )


def work(experiment: str, checkpoints: Path, epochs: int, idle_timeout: float) -> int:
    """Work on ``experiment`` until it is DONE (or idle for ``idle_timeout`` s); return the jobs done."""
    data = load_data()
    done = 0
    with schedy.SchedyDB() as db:
        exp = db.get_experiment(experiment)
        # Short waits: a member frees up within one interval, and the loop ends soon after the run.
        for job in exp.jobs(wait=2, idle_timeout=idle_timeout):
            with job:
                train_interval(job, data, checkpoints, epochs)
            done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="digits-pbt", help="the PBT experiment to work on")
    parser.add_argument("--checkpoints", type=Path, default=Path("pbt-checkpoints"), help="checkpoint directory")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training set per interval")
    parser.add_argument("--idle-timeout", type=float, default=300, help="stop after this many seconds without work")
    args = parser.parse_args()
    done = work(args.experiment, args.checkpoints / args.experiment, args.epochs, args.idle_timeout)
    print(f"worker {os.getpid()}: {done} intervals trained")


if __name__ == "__main__":
    main()
