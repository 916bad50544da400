"""Migration 0013 marks the jobs an experiment's search created before the column existed (SQLite and PostgreSQL).

A ``maxJobs`` budget set on a search that already ran counts them (store/budget.py). Versions before
268bd7f read the database clock twice for a claimed row, up to milliseconds apart on a busy
PostgreSQL: such a row is still the search's after the upgrade.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from schedy.server.store import Store
from schedy.server.store.tables import jobs
from tests.server.store.test_migrations_with_data import _tables, _to

T0 = time.time() - 3600


def _row(pk: int, job_id: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "pk": pk,
        "experiment_id": 1,
        "job_id": job_id,
        "status": "DONE",
        "priority": 0,
        "hyperparameters": json.dumps({"x": pk / 10}),
        "results": json.dumps({"loss": pk}),
        "version": 2,
        "created_at": T0 + pk,
        "updated_at": T0 + pk + 5,
        "started_at": T0 + pk,
        "finished_at": T0 + pk + 5,
        "worker": "w",
        "attempt": 1,
    }
    row.update(extra)
    return row


def test_jobs_an_older_version_claimed_are_the_searchs_after_the_upgrade(database_url: str) -> None:
    store = Store(database_url, pool_size=1)
    try:
        _to(store, "0012")
        rows = [
            _row(1, "claimed"),  # one reading of the clock
            _row(2, "claimed-twice", started_at=T0 + 2 + 0.00024),  # two readings, 240 µs apart
            _row(3, "claimed-busy", started_at=T0 + 3 + 0.004),  # 4 ms apart on a loaded database
            _row(4, "queued-then-claimed", started_at=T0 + 4 + 30),  # added by hand, claimed later
            _row(5, "retry", attempt=2),  # the lease sweep's retry
            # An import: added finished by nobody's claim, as version 1.
            _row(6, "imported", version=1, worker=None, started_at=T0 + 6, finished_at=T0 + 6, updated_at=T0 + 6),
            _row(7, "running", status="RUNNING", finished_at=None, version=1),  # claimed, still running
        ]
        with store.write() as conn:
            tables = _tables(conn)
            conn.execute(
                tables["users"].insert(),
                [{"id": 1, "email": "a@example.com", "password_hash": "x", "is_admin": False, "created_at": T0}],
            )
            conn.execute(
                tables["experiments"].insert(),
                [
                    {
                        "id": 1,
                        "owner_id": 1,
                        "name": "old",
                        "status": "RUNNING",
                        "scheduler": "RandomSearch",
                        "params": "{}",
                        "options": "{}",
                        "created_at": T0,
                        "updated_at": T0,
                    }
                ],
            )
            conn.execute(tables["jobs"].insert(), rows)
        _to(store, "head")
        with store.read() as conn:
            rows_now = conn.execute(select(jobs.c.job_id, jobs.c.made_by_search)).all()
        marked = {job_id: bool(by_search) for job_id, by_search in rows_now}
        assert marked == {
            "claimed": True,
            "claimed-twice": True,
            "claimed-busy": True,
            "queued-then-claimed": False,
            "retry": False,
            "imported": False,
            "running": True,
        }
    finally:
        store.dispose()
