"""Migration 0014 gives the crashed jobs already there the type and message every read of them returns.

A job's JSON shows what its attempt raised from ``jobs.error_brief`` (SQLite and PostgreSQL): a job
that crashed before the upgrade keeps showing its error after it, across the back-fill's batches.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from schedy.server.store import Store
from schedy.server.store.tables import jobs
from schedy.server.wire import brief_error
from tests.server.store.test_made_by_search_migration import T0, _row
from tests.server.store.test_migrations_with_data import _tables, _to

#: More rows than one batch of the back-fill (1,000).
CRASHED = 1_205


def _error(pk: int) -> str:
    error = {"type": "RuntimeError", "message": f"CUDA out of memory ({pk})", "traceback": "Traceback …\n" * 300}
    return json.dumps(error)


def test_jobs_that_crashed_before_the_upgrade_show_their_error_after_it(database_url: str) -> None:
    store = Store(database_url, pool_size=1)
    try:
        _to(store, "0013")
        rows = [
            _row(pk, f"crashed-{pk}", status="CRASHED", end_reason="raised", error=_error(pk))
            for pk in range(1, CRASHED + 1)
        ]
        rows.append(_row(CRASHED + 1, "no-error", status="CRASHED", end_reason="lease", error=None))
        rows.append(_row(CRASHED + 2, "done", end_reason="reported", error=None))
        rows.append(
            _row(
                CRASHED + 3, "no-message", status="CRASHED", end_reason="raised", error=json.dumps({"type": "KeyError"})
            )
        )
        with store.write() as conn:
            tables = _tables(conn)
            conn.execute(
                tables["users"].insert(),
                [{"id": 1, "email": "a@example.com", "password_hash": "x", "is_admin": False, "created_at": T0}],
            )
            experiment = {"id": 1, "owner_id": 1, "name": "old", "status": "RUNNING", "scheduler": "RandomSearch"}
            experiment.update(params="{}", options="{}", created_at=T0, updated_at=T0)
            conn.execute(tables["experiments"].insert(), [experiment])
            conn.execute(tables["jobs"].insert(), rows)
        _to(store, "head")
        with store.read() as conn:
            read = conn.execute(select(jobs.c.job_id, jobs.c.error_brief)).all()
        shown = {job_id: brief_error(brief) for job_id, brief in read}
    finally:
        store.dispose()
    for pk in range(1, CRASHED + 1):
        assert shown[f"crashed-{pk}"] == {"type": "RuntimeError", "message": f"CUDA out of memory ({pk})"}
    assert shown["no-error"] is None
    assert shown["done"] is None
    assert shown["no-message"] == {"type": "KeyError", "message": ""}
