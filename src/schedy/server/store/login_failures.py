"""Failed logins per key (a hash of email and client address), for throttling.

Kept in the database so that every service process counts the same
failures: an attacker gains nothing by spreading guesses over processes.
Only failures write; a correct login reads one row by its primary key, and
deletes it only if there was one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Float, bindparam, case, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from schedy.server.store.engine import db_now
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import login_failures as table


def get(conn: Connection, key: str) -> AnyRow | None:
    """``(failures, window_age, since_last)`` of the key (ages in seconds, database clock), if any."""
    return conn.execute(
        select(
            table.c.failures,
            (db_now() - table.c.window_start).label("window_age"),
            (db_now() - table.c.last_failure_at).label("since_last"),
        ).where(table.c.key == key)
    ).one_or_none()


def record(conn: Connection, key: str, window: float) -> int:
    """Count one failure (starting a fresh window if the key's began over ``window`` seconds ago); return the count.

    Atomic (``INSERT … ON CONFLICT DO UPDATE``), so concurrent failures on
    several processes are all counted.
    """
    expired = table.c.window_start < db_now() - bindparam("p_window", window, type_=Float)
    values = {"key": key, "failures": 1, "window_start": db_now(), "last_failure_at": db_now()}
    update: dict[str, Any] = {
        "failures": case((expired, literal(1)), else_=table.c.failures + 1),
        "window_start": case((expired, db_now()), else_=table.c.window_start),
        "last_failure_at": db_now(),
    }
    stmt: Insert
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(table).values(values).on_conflict_do_update(index_elements=["key"], set_=update)
    else:
        stmt = sqlite.insert(table).values(values).on_conflict_do_update(index_elements=["key"], set_=update)
    return int(conn.execute(stmt.returning(table.c.failures)).scalar_one())


def clear(conn: Connection, key: str) -> None:
    """Forget the key's failures (after a correct login)."""
    conn.execute(delete(table).where(table.c.key == key))


def prune(conn: Connection, older_than: float) -> None:
    """Forget failures whose last one is over ``older_than`` seconds old."""
    conn.execute(
        delete(table).where(table.c.last_failure_at < db_now() - bindparam("p_age", older_than, type_=Float))
    )
