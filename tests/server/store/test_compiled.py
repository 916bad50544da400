"""Hot-path statements on the DB-API cursor (store/compiled.py) and one-statement transactions."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from schedy.server.store import Store, migrate, users
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store.compiled import Compiled
from schedy.server.store.tables import jobs


@pytest.fixture
def store(database_url):
    store = Store(database_url, pool_size=1)
    migrate.upgrade(store)
    yield store
    store.dispose()


@pytest.fixture
def experiment_id(store):
    with store.write() as conn:
        owner = users.create(conn, "owner@example.com", None)
        row = store_experiments.create(conn, owner, "e", "RUNNING", "Manual", "null", "{}")
    assert row is not None
    return row.id


def test_database_errors_are_sqlalchemy_errors(store, experiment_id):
    with store.write() as conn:
        store_jobs.insert(conn, experiment_id, "j", "QUEUED", "{}", "{}")
    with pytest.raises(IntegrityError), store.write() as conn:
        store_jobs.insert(conn, experiment_id, "j", "QUEUED", "{}", "{}")


def test_a_failed_transaction_after_autocommit_use_still_rolls_back(store, experiment_id):
    with store.write() as conn:
        queued = store_jobs.insert(conn, experiment_id, "j", "QUEUED", "{}", "{}")
    assert queued is not None
    with store.autocommit() as conn:
        done = store_jobs.replace_named(conn, 1, "e", "j", "DONE", "{}", '{"loss": 1}', (queued.pk, queued.version))
    assert done is not None
    assert done.status == "DONE"

    def insert_then_fail() -> None:
        with store.write() as conn:
            store_jobs.insert(conn, experiment_id, "k", "QUEUED", "{}", "{}")
            raise RuntimeError("abort")

    # The connection went back to the pool: its next transaction must still be one.
    with pytest.raises(RuntimeError):
        insert_then_fail()
    with store.read() as conn:
        assert store_jobs.get(conn, experiment_id, "k") is None
        assert store_jobs.get(conn, experiment_id, "j").status == "DONE"


def test_an_update_with_a_stale_version_or_another_owner_writes_nothing(store, experiment_id):
    with store.write() as conn:
        queued = store_jobs.insert(conn, experiment_id, "j", "QUEUED", "{}", "{}")
    assert queued is not None
    with store.autocommit() as conn:
        assert store_jobs.replace_named(conn, 1, "e", "j", "DONE", "{}", "{}", (queued.pk, queued.version + 1)) is None
        assert store_jobs.replace_named(conn, 2, "e", "j", "DONE", "{}", "{}", (queued.pk, queued.version)) is None
    with store.read() as conn:
        assert store_jobs.get(conn, experiment_id, "j").status == "QUEUED"


def test_statements_with_in_lists_are_refused():
    statement = select(jobs.c.pk).where(jobs.c.status.in_(["DONE", "CRASHED"]))
    with pytest.raises(ValueError, match="IN"):
        Compiled(statement, sqlite.dialect())
