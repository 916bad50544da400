"""Fixtures of the framework callback tests: experiments on the real service, data from scikit-learn's digits."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import schedy
from schedy.stopping import ASHA


def framework(name: str) -> ModuleType:
    """Import a framework of an optional extra; skip without it, unless CI requires every one.

    CI (``.ci/run``) installs every framework and sets ``SCHEDY_REQUIRE_INTEGRATIONS=1``, so a
    broken install fails there instead of silently skipping the callback's tests.
    """
    if os.environ.get("SCHEDY_REQUIRE_INTEGRATIONS") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture
def db(service: Any) -> Iterator[schedy.SchedyDB]:
    """A SchedyDB of a fresh user of the real service (SQLite and PostgreSQL)."""
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database


@pytest.fixture
def experiment(db: schedy.SchedyDB) -> Callable[..., schedy.Experiment]:
    """``experiment(metric, objective, prune=False)``: a manual search; with ``prune``, one whose next job is pruned.

    With ``prune``, ASHA (η = 2, first rung at step 1) watches ``metric``
    and a leader job has already reported the best possible value at every
    step, so the next job to report at step 1 or later is told to stop.
    """

    def make(metric: str, objective: str = "min", *, prune: bool = False) -> schedy.Experiment:
        name = f"{metric}-{'prune' if prune else 'run'}"
        policy = ASHA(metric, objective, min_step=1, reduction_factor=2) if prune else None
        exp = schedy.ManualSearch(name, early_stopping=policy)
        db.add_experiment(exp)
        if prune:
            leader = exp.add_job(hyperparameters={"leader": True})
            best = -1e9 if objective == "min" else 1e9
            with leader:
                for step in range(65):
                    leader.report(step, **{metric: best})
        return exp

    return make


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (shipped with the package): 1797 images of 8 × 8, scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target.astype("int64")


def next_job(exp: schedy.Experiment) -> schedy.Job:
    """Queue a job and claim it."""
    exp.add_job(hyperparameters={"lr": 0.1})
    return exp.next_job()
