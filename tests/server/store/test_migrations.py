"""Migrations: shipped in the package, applied at start, matching the tables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from schedy.server.store import Store, migrate
from schedy.server.store.engine import DatabaseUnavailable
from schedy.server.store.tables import metadata


def _declared_on(dialect: str):
    """Alembic's filter keeping what tables.py declares for ``dialect`` (an index may be PostgreSQL's only)."""

    def include(obj, name, type_, reflected, compare_to):
        condition = getattr(obj, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        wanted = (condition.dialect,) if isinstance(condition.dialect, str) else condition.dialect
        return dialect in wanted

    return include


def test_upgrade_builds_exactly_the_declared_schema(database_url):
    store = Store(database_url)
    migrate.upgrade(store)
    with store.read() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _declared_on(conn.dialect.name)})
        diff = compare_metadata(context, metadata)
        assert migrate.current(conn) == migrate.head()
    store.dispose()
    assert diff == [], "tables.py and the migrations disagree: write a migration"


def test_the_revisions_read_from_the_scripts_are_alembics(database_url):
    """A start reads the revisions without Alembic: the same head and chain as Alembic's, the same current one."""
    scripts = ScriptDirectory(str(migrate._MIGRATIONS))
    assert migrate.head() == scripts.get_current_head()
    assert migrate._revisions()[0] == {script.revision for script in scripts.walk_revisions()}
    store = Store(database_url)
    with store.read() as conn:
        assert migrate.current(conn) is None  # no schema yet
    migrate.upgrade(store)
    with store.read() as conn:
        assert migrate.current(conn) == MigrationContext.configure(conn).get_current_revision() == migrate.head()
    store.dispose()


def test_upgrade_twice_is_a_no_op(database_url):
    store = Store(database_url)
    migrate.upgrade(store)
    migrate.upgrade(store)
    with store.read() as conn:
        assert set(inspect(conn).get_table_names()) >= {"users", "experiments", "jobs", "alembic_version"}
    store.dispose()


def test_processes_starting_together_migrate_once(database_url):
    stores = [Store(database_url, pool_size=1) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(migrate.upgrade, stores))
    with stores[0].read() as conn:
        assert migrate.current(conn) == migrate.head()
    for store in stores:
        store.dispose()


def test_queue_index_matches_the_claim_order(database_url):
    store = Store(database_url)
    migrate.upgrade(store)
    with store.read() as conn:
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("jobs")}
    store.dispose()
    # Without priority before pk, PostgreSQL walks the index past every claimed row to the next QUEUED one.
    assert indexes["ix_jobs_queue"] == ["experiment_id", "status", "priority", "pk"]


def test_reports_are_indexed_by_time_on_postgresql_only(database_url):
    # PostgreSQL's early-stopping state reads the last seconds' reports by time; SQLite's never does,
    # and every report would pay for the index.
    store = Store(database_url)
    migrate.upgrade(store)
    with store.read() as conn:
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("reports")}
    store.dispose()
    assert indexes >= {"ix_reports_job", "ix_reports_experiment"}
    assert ("ix_reports_recent" in indexes) == (not store.is_sqlite)


def test_a_database_a_newer_schedy_migrated_is_refused_in_one_sentence_and_left_alone(database_url):
    """Not Alembic's ``Can't locate revision identified by …`` traceback at the service's start."""
    store = Store(database_url)
    migrate.upgrade(store)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(DatabaseUnavailable) as refused:
        migrate.upgrade(store)
    with store.read() as conn:
        assert migrate.current(conn) == "0099_future"
    store.dispose()
    assert str(refused.value).startswith("The database ")
    assert "was migrated by a newer Schedy (schema revision 0099_future; Schedy " in str(refused.value)
    assert str(refused.value).endswith(
        f"knows up to {migrate.head()}): run that version of Schedy, or a newer one, on it."
    )
