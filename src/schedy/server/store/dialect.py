"""The few statements that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignore(conn: Connection | str, table: Table, conflict_columns: list[str]) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for a connection's dialect (or a dialect name)."""
    dialect = conn if isinstance(conn, str) else conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


def upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> Insert:
    """``INSERT key + values … ON CONFLICT (key's columns) DO UPDATE SET values``: one atomic statement.

    An update, then an insert when it changed nothing, is not atomic: two writers at once both insert,
    and one fails on the key (on PostgreSQL, whose transactions do not wait for each other here).
    """
    if conn.dialect.name == "postgresql":
        return (
            postgresql.insert(table)
            .values(**key, **values)
            .on_conflict_do_update(index_elements=list(key), set_=values)
        )
    return sqlite.insert(table).values(**key, **values).on_conflict_do_update(index_elements=list(key), set_=values)
