"""The few statements that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignore(conn: Connection | str, table: Table, conflict_columns: list[str]) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for a connection's dialect (or a dialect name)."""
    dialect = conn if isinstance(conn, str) else conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
