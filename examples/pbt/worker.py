"""A PBT worker: trains scikit-learn's SGDClassifier on the digits dataset, one interval per job.

The service runs Population Based Training (``docs/pbt.md``); this worker
only trains, and shares no directory with the other workers: checkpoints
travel through the service as artifacts of the jobs (``docs/artifacts.md``).
For each job it

1. loads the model its job continues: the ``model.pkl`` artifact of the
   job's ``parent`` (``job.load_artifact("model.pkl", from_parent=True)``:
   after an exploit the parent is the better member's job, wherever it was
   trained); a new member has no parent and starts from scratch;
2. sets the learning rate (``eta0``, ``learning_rate="constant"``) and the
   regularisation (``alpha``) that PBT chose for this interval — after an
   exploit these are the better member's values, perturbed;
3. trains ``--epochs`` passes with ``partial_fit``, measures the validation
   accuracy, and stores the model as the job's own ``model.pkl`` artifact
   (other members may still load the parent's: each job has its own);
4. puts ``accuracy`` in ``job.results``; ``with job:`` marks the job DONE
   and saves them (or CRASHED if training raised).

Files live only in a temporary directory for the time of one job. The
digits dataset ships with scikit-learn: nothing is downloaded. Run as many
workers as you like, on as many machines, against a running service::

    python examples/pbt/worker.py --experiment digits-pbt

or let ``examples/pbt/launch.py`` create the experiment and start them.
Needs ``pip install './[examples]'`` (scikit-learn).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import socket
import tempfile
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


CHECKPOINT = "model.pkl"


def load_model(path: str | os.PathLike[str]) -> Any:
    """A checkpoint saved by :func:`save_model` (pickle: load only checkpoints of your own experiments)."""
    with open(path, "rb") as f:
        return pickle.load(f)


def save_model(model: Any, path: Path) -> None:
    """Pickle ``model`` to ``path``."""
    with open(path, "wb") as f:
        pickle.dump(model, f)


def train_interval(job: schedy.Job, data: Digits, epochs: int) -> None:
    """Train one PBT interval of ``job``'s model; store it as the job's artifact, the results in ``job.results``."""
    hps = job.hyperparameters
    with tempfile.TemporaryDirectory(prefix="schedy-pbt-") as scratch:
        if job.parent is None:  # a new member
            model = SGDClassifier(loss="log_loss", learning_rate="constant", random_state=0)
            loaded = None
        else:  # the checkpoint of the job this one continues, from whichever worker trained it
            path = job.load_artifact(CHECKPOINT, Path(scratch) / "parent.pkl", from_parent=True)
            loaded = hashlib.sha256(path.read_bytes()).hexdigest()
            model = load_model(path)
        # PBT's schedule: this interval's values, whatever the model was trained with before.
        model.set_params(eta0=hps["eta0"], alpha=hps["alpha"])
        rng = np.random.default_rng()
        for _ in range(epochs):
            order = rng.permutation(len(data.y_train))
            model.partial_fit(data.x_train[order], data.y_train[order], classes=CLASSES)
        accuracy = float(model.score(data.x_val, data.y_val))
        save_model(model, Path(scratch) / CHECKPOINT)
        job.save_artifact(Path(scratch) / CHECKPOINT)
    job.results.update(
        accuracy=accuracy,
        epochs=job.results.get("epochs", 0) + epochs,  # the parent's results were copied into this job
        parent_sha256=loaded,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def work(experiment: str, epochs: int, idle_timeout: float) -> int:
    """Work on ``experiment`` until it is DONE (or idle for ``idle_timeout`` s); return the jobs done."""
    data = load_data()
    done = 0
    with schedy.SchedyDB() as db:
        exp = db.get_experiment(experiment)
        # Short waits: a member frees up within one interval, and the loop ends soon after the run.
        for job in exp.jobs(wait=2, idle_timeout=idle_timeout):
            with job:
                train_interval(job, data, epochs)
            done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="digits-pbt", help="the PBT experiment to work on")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training set per interval")
    parser.add_argument("--idle-timeout", type=float, default=300, help="stop after this many seconds without work")
    args = parser.parse_args()
    done = work(args.experiment, args.epochs, args.idle_timeout)
    print(f"worker {os.getpid()}: {done} intervals trained")


if __name__ == "__main__":
    main()
