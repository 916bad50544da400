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
