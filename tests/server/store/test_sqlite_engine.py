"""SQLite engines: several processes opening one new database file at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text

from schedy.server.store.engine import make_engine


def test_connections_racing_on_a_new_file_all_open_in_wal_mode(tmp_path: Path) -> None:
    # Workers and server processes started together each open the same new
    # file; the first one switches it to WAL, which SQLite refuses at once
    # ("database is locked") while another connection is opening it.
    for attempt in range(40):
        url = f"sqlite:///{tmp_path}/race{attempt}.db"
        engines = [make_engine(url, write=True, pool_size=1) for _ in range(6)]

        def create(engine):  # type: ignore[no-untyped-def]
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
                return conn.execute(text("PRAGMA journal_mode")).scalar_one()

        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                modes = list(pool.map(create, engines))
        finally:
            for engine in engines:
                engine.dispose()
        assert modes == ["wal"] * len(engines)


def _count(store) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_write_transaction_commits_rolls_back_and_leaves_the_writer_usable(tmp_path: Path) -> None:
    """Store.write begins and commits on the driver's connection: every way out of it ends the transaction."""
    from schedy.server.store import Store

    store = Store(f"sqlite:///{tmp_path}/w.db", pool_size=1)
    try:
        with store.write() as conn:
            conn.connection.dbapi_connection.execute("CREATE TABLE t (x INTEGER)")
        with store.write() as conn:  # straight on the driver, as the hot paths write
            conn.connection.dbapi_connection.execute("INSERT INTO t VALUES (1)")
        assert _count(store) == 1
        try:
            with store.write() as conn:
                conn.connection.dbapi_connection.execute("INSERT INTO t VALUES (2)")
                raise RuntimeError("the use case failed")
        except RuntimeError:
            pass
        assert _count(store) == 1  # rolled back
        with store.write() as conn:  # through SQLAlchemy inside: its transaction commits ours
            conn.execute(text("INSERT INTO t VALUES (3)"))
            conn.connection.dbapi_connection.execute("INSERT INTO t VALUES (4)")
        assert _count(store) == 3
        try:
            with store.write() as conn:
                conn.execute(text("INSERT INTO t VALUES (5)"))
                raise RuntimeError("the use case failed")
        except RuntimeError:
            pass
        assert _count(store) == 3
        with store.write() as conn:  # the writer is not left inside a transaction
            conn.connection.dbapi_connection.execute("INSERT INTO t VALUES (6)")
        assert _count(store) == 4
    finally:
        store.dispose()
