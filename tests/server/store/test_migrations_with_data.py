"""Migrations applied to a database in use: rows of every kind survive each step, and the service carries on.

The database is built at the first revision with rows of every table (as a
service of that version wrote them: users, API tokens active and revoked,
the installation's secret, experiments of each scheduler, jobs in every
state with leases, PBT lineage and events), migrated one revision at a
time, checked after each step, then served by a real ``schedy server``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, select, text

from schedy.server import security
from schedy.server.store import Store, migrate
from schedy.testing import ServiceProcess

MIGRATIONS = Path(migrate.__file__).parent / "migrations"
PASSWORD = "an old password, 2026"
TOKEN = "an-old-api-token-that-still-works"
REVOKED = "an-old-revoked-api-token"
T0 = time.time() - 3600

PBT_PARAMS = {
    "objective": "max",
    "qualityResultName": "Q",
    "exploit": {"truncate": 0.2},
    "explore": {"h0": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2}}},
    "init": {"h0": {"uniform": {"low": 0.0, "high": 1.0}}},
    "numParallel": 2,
    "maxGenerations": 3,
}
RANDOM_PARAMS = {"x": {"uniform": {"low": 0.0, "high": 1.0}}}


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _to(store: Store, revision: str) -> None:
    with store.write() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _tables(conn: Connection) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(conn)
    return dict(meta.tables)


def _job(pk: int, experiment_id: int, job_id: str, status: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "pk": pk,
        "experiment_id": experiment_id,
        "job_id": job_id,
        "status": status,
        "priority": 0,
        "hyperparameters": json.dumps({"h0": 0.25 + pk / 100}),
        "results": "{}",
        "version": 1,
        "created_at": T0 + pk,
        "updated_at": T0 + pk,
        "started_at": None,
        "finished_at": None,
        "worker": None,
        "member": None,
        "generation": None,
        "parent": None,
        "attempt": 1,
        "heartbeat_interval": None,
        "lease_expires_at": None,
        "end_reason": None,
    }
    row.update(extra)
    return row


def _rows_at_first_revision() -> dict[str, list[dict[str, Any]]]:
    """What a service of the first revision wrote, one row of every kind."""
    done = {"status": "DONE", "version": 2, "started_at": T0, "finished_at": T0 + 1, "worker": "w1"}
    done["end_reason"] = "reported"
    return {
        "installation": [
            {"key": "jwt_secret", "value": "9d83ba6a904a5aba3fb75d826681fd319c8da7cf185a8bda8657184c884d9e89"}
        ],
        "users": [
            {"id": 1, "email": "admin@example.com", "password_hash": None, "is_admin": True, "created_at": T0},
            {
                "id": 2,
                "email": "old@example.com",
                "password_hash": security.hash_password(PASSWORD),
                "is_admin": False,
                "created_at": T0,
            },
        ],
        "api_tokens": [
            {
                "id": 1,
                "user_id": 2,
                "token_hash": security.hash_api_token(TOKEN),
                "label": "laptop",
                "created_at": T0,
                "last_used_at": T0 + 5,
                "revoked_at": None,
            },
            {
                "id": 2,
                "user_id": 2,
                "token_hash": security.hash_api_token(REVOKED),
                "label": "old",
                "created_at": T0,
                "last_used_at": None,
                "revoked_at": T0 + 10,
            },
        ],
        "experiments": [
            {
                "id": 1,
                "owner_id": 2,
                "name": "pbt",
                "status": "RUNNING",
                "scheduler": "PBT",
                "params": json.dumps(PBT_PARAMS),
                "options": json.dumps({"seed": 3}),
                "rng_state": None,
                "created_at": T0,
                "updated_at": T0,
            },
            {
                "id": 2,
                "owner_id": 2,
                "name": "random",
                "status": "RUNNING",
                "scheduler": "RandomSearch",
                "params": json.dumps(RANDOM_PARAMS),
                "options": json.dumps({"maxRetries": 2}),
                "rng_state": None,
                "created_at": T0,
                "updated_at": T0,
            },
            {
                "id": 3,
                "owner_id": 2,
                "name": "finished",
                "status": "DONE",
                "scheduler": "ManualSearch",
                "params": "{}",
                "options": "{}",
                "rng_state": None,
                "created_at": T0,
                "updated_at": T0,
            },
        ],
        "experiment_events": [
            {
                "id": 1,
                "experiment_id": 1,
                "created_at": T0 + 3,
                "payload": json.dumps({"kind": "exploit", "member": "m0", "sourceJob": "pbt-m1-g1", "generation": 2}),
            }
        ],
        "jobs": [
            # PBT: two members done in generation 1, one exploit into generation 2.
            _job(1, 1, "pbt-m0-g1", **done, member="m0", generation=1, results=json.dumps({"Q": 0.2})),
            _job(2, 1, "pbt-m1-g1", **done, member="m1", generation=1, results=json.dumps({"Q": 0.6})),
            _job(3, 1, "pbt-m0-g2", **done, member="m0", generation=2, parent="pbt-m1-g1", results='{"Q": 0.61}'),
            # Random search: one of every state, a lease running and one lapsed.
            _job(4, 2, "queued", "QUEUED", priority=5),
            _job(
                5,
                2,
                "running",
                "RUNNING",
                version=3,
                started_at=T0,
                worker="w2",
                heartbeat_interval=30.0,
                lease_expires_at=time.time() + 3600,
                results=json.dumps({"partial": [1.5, None]}),
            ),
            _job(6, 2, "crashed", "CRASHED", version=2, started_at=T0, finished_at=T0 + 2, end_reason="lease-expired"),
            _job(7, 2, "done", **done, results=json.dumps({"loss": 0.5, "curve": [3, 2, 1]})),
            _job(8, 3, "only", **done),
        ],
    }


def _values(conn: Connection, tables: dict[str, Table], name: str, columns: list[str]) -> list[dict[str, Any]]:
    table = tables[name]
    key = next(iter(table.primary_key.columns))
    return [dict(row._mapping) for row in conn.execute(select(*(table.c[c] for c in columns)).order_by(key))]


@pytest.mark.timeout(300)
def test_every_migration_keeps_a_used_database_and_the_service_carries_on(database_url, tmp_path):
    revisions = _revisions()
    assert len(revisions) >= 2, "nothing to migrate"
    store = Store(database_url, pool_size=1)
    _to(store, revisions[0])
    rows = _rows_at_first_revision()
    with store.write() as conn:
        tables = _tables(conn)
        for name, values in rows.items():  # dicts keep the order foreign keys need
            conn.execute(tables[name].insert(), values)
        if conn.dialect.name == "postgresql":  # as if the ids had come from the sequences
            for name, key in [("users", "id"), ("api_tokens", "id"), ("experiments", "id"), ("jobs", "pk")]:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', '{key}'), (SELECT max({key}) FROM {name}))")  # noqa: S608 - constant names
                )
            conn.execute(text("SELECT setval(pg_get_serial_sequence('experiment_events', 'id'), 1)"))
    failures = [{"key": "203.0.113.9", "failures": 3, "window_start": T0, "last_failure_at": T0 + 1}]

    for revision in revisions[1:]:
        _to(store, revision)
        with store.write() as conn:
            tables = _tables(conn)
            if "login_failures" in tables and not failures[0].get("_in"):
                conn.execute(tables["login_failures"].insert(), failures)
                failures[0]["_in"] = True
            for name, values in rows.items():
                kept = _values(conn, tables, name, list(values[0]))
                assert kept == values, f"{name} changed by migration {revision}"
            assert _values(conn, tables, "login_failures", ["key", "failures"]) == [
                {"key": "203.0.113.9", "failures": 3}
            ]
    with store.read() as conn:
        assert migrate.current(conn) == migrate.head()
    store.dispose()

    # The service starts on it (finding nothing to migrate), and a user of the old version carries on.
    home = tmp_path / "home"
    with ServiceProcess.start(home, database_url) as process:
        login = httpx.post(process.url + "token/", json={"email": "old@example.com", "token": TOKEN}, timeout=30)
        assert login.status_code == 200, login.text
        with httpx.Client(
            base_url=process.url, timeout=30, headers={"Authorization": f"Bearer {login.json()['token']}"}
        ) as api:
            refused = httpx.post(process.url + "token/", json={"email": "old@example.com", "token": REVOKED})
            assert refused.status_code == 403
            password = httpx.post(process.url + "passauth/", json={"email": "old@example.com", "token": PASSWORD})
            assert password.status_code == 200, password.text

            names = {item["name"]: item["status"] for item in api.get("experiments/").json()["items"]}
            assert names == {"pbt": "RUNNING", "random": "RUNNING", "finished": "DONE"}
            listed = {job["id"]: job for job in api.get("experiments/random/jobs/").json()["items"]}
            assert {i: j["status"] for i, j in listed.items()} == {
                "queued": "QUEUED",
                "running": "RUNNING",
                "crashed": "CRASHED",
                "done": "DONE",
            }
            assert listed["done"]["results"] == {"loss": 0.5, "curve": [3, 2, 1]}

            # The worker holding the old RUNNING job reports it, with the ETag the service gives.
            running = api.get("experiments/random/jobs/running/")
            put = api.put(
                "experiments/random/jobs/running/",
                json={**running.json(), "status": "DONE", "results": {"partial": [1.5, 1.0]}},
                headers={"If-Match": running.headers["ETag"]},
            )
            assert put.status_code == 200, put.text
            # Claims: the queue head first, then the scheduler; PBT decides from the old history.
            first = api.post("experiments/random/nextjob/", json={"worker": "w9", "heartbeat": 30})
            assert first.status_code == 200, first.text
            assert first.json()["id"] == "queued"
            second = api.post("experiments/random/nextjob/", json={"worker": "w9", "heartbeat": 30})
            assert second.status_code == 200
            assert 0 <= second.json()["hyperparameters"]["x"] <= 1
            pbt = api.post("experiments/pbt/nextjob/", json={"worker": "w9", "heartbeat": 30})
            assert pbt.status_code == 200, pbt.text
            assert pbt.json()["member"] == "m1"
            assert pbt.json()["generation"] == 2
            assert api.post("experiments/finished/nextjob/", json={"worker": "w9"}).status_code == 204
            events = api.get("experiments/pbt/events/").json()["items"]
            assert events[0]["kind"] == "exploit"
            # Deleting an old job works and its history is read afresh.
            assert api.delete("experiments/random/jobs/crashed/").status_code == 204
            assert "crashed" not in {job["id"] for job in api.get("experiments/random/jobs/").json()["items"]}
