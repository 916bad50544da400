"""Failed logins per key (a hash of email and client address, or of the email alone), for throttling.

Kept in the database so that every service process counts the same
failures: an attacker gains nothing by spreading guesses over processes.
A password login *reserves* its attempt before the password is checked
(:func:`reserve`: counted as a failure, in one atomic statement that also
refuses it past the limit), so parallel guesses are counted as they come,
not once they have been checked; a correct login then takes its
reservation back. An API-token login reads one row by its primary key and
writes only when it fails.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Float, Integer, bindparam, case, delete, literal, or_, select
from sqlalchemy import update as update_
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


def reserve(conn: Connection, key: str, max_failures: int, window: float, lockout: float) -> float | None:
    """Count one failure unless the key is locked out; ``None`` if counted, else the seconds to wait.

    Locked out: ``max_failures`` failures within ``window`` seconds, the last
    one less than ``lockout`` seconds ago. One statement (``INSERT … ON
    CONFLICT DO UPDATE … WHERE``), atomic on SQLite and on PostgreSQL (which
    locks the key's row and checks the condition on its newest version), so
    concurrent attempts on any number of processes never pass the limit.
    """
    now = db_now()
    expired = table.c.window_start < now - bindparam("p_window", window, type_=Float)
    allowed = or_(
        expired,
        table.c.failures < bindparam("p_max", max_failures, type_=Integer),
        table.c.last_failure_at <= now - bindparam("p_lockout", lockout, type_=Float),
    )
    values = {"key": key, "failures": 1, "window_start": now, "last_failure_at": now}
    update: dict[str, Any] = {
        "failures": case((expired, literal(1)), else_=table.c.failures + 1),
        "window_start": case((expired, now), else_=table.c.window_start),
        "last_failure_at": now,
    }
    stmt: Insert
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(table).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=update, where=allowed)
    else:
        stmt = sqlite.insert(table).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=update, where=allowed)
    if conn.execute(stmt.returning(table.c.failures)).one_or_none() is not None:
        return None
    row = get(conn, key)
    return lockout if row is None else max(lockout - float(row.since_last), 0.0)


def release(conn: Connection, key: str) -> None:
    """Take back one reservation of the key (a login that turned out correct)."""
    conn.execute(update_(table).where(table.c.key == key, table.c.failures > 0).values(failures=table.c.failures - 1))


def clear(conn: Connection, key: str) -> None:
    """Forget the key's failures (after a correct login)."""
    conn.execute(delete(table).where(table.c.key == key))


def prune(conn: Connection, older_than: float) -> None:
    """Forget failures whose last one is over ``older_than`` seconds old.

    Rows another transaction holds are left for a later prune (PostgreSQL: ``SKIP LOCKED``): a login
    holding its reservations never waits here for another's, which could wait for it.
    """
    old = select(table.c.key).where(table.c.last_failure_at < db_now() - bindparam("p_age", older_than, type_=Float))
    if conn.dialect.name == "postgresql":
        old = old.with_for_update(skip_locked=True)
    conn.execute(delete(table).where(table.c.key.in_(old.scalar_subquery())))
