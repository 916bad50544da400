"""Which claims a service process keeps off its event loop: those that read the whole population."""

from __future__ import annotations

import json

import pytest

from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.store import Store, migrate, users
from schedy.server.wire import parse_experiment

PBT = {"PBT": {
    "objective": "max", "qualityResultName": "q", "exploit": {"truncate": 0.25},
    "explore": {"h": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}}},
    "init": {"h": {"uniform": {"low": 0, "high": 1}}}, "numParallel": 4,
}}
RANDOM = {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}


@pytest.fixture
def services(database_url):
    store = Store(database_url)
    migrate.upgrade(store)
    with store.write() as conn:
        owner = users.create(conn, "claims@example.com", None)
    experiments = Experiments(store)
    for name, scheduler in (("pbt", PBT), ("random", RANDOM)):
        experiments.put(owner, name, parse_experiment(json.dumps({"scheduler": scheduler}).encode()), create_only=True)
    yield owner, Jobs(store)
    store.dispose()


def test_claims_of_a_pbt_experiment_are_known_to_read_its_population(services):
    owner, jobs = services
    assert not jobs.reads_population(owner, "pbt")  # not known before its first claim
    assert jobs.claim(owner, "pbt", worker="w", heartbeat=10.0) is not None
    assert jobs.claim(owner, "random", worker="w", heartbeat=10.0) is not None
    # The service runs the next PBT claims in its thread pool, random search stays inline on SQLite.
    assert jobs.reads_population(owner, "pbt")
    assert not jobs.reads_population(owner, "random")
    assert not jobs.reads_population(owner + 1, "pbt")
