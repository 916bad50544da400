"""Per-installation values kept in the database (e.g. the JWT signing secret).

Kept in the database rather than a file so that every service process on
every host signs and checks session tokens with the same secret.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, select

from schedy.server.store.dialect import insert_ignore
from schedy.server.store.tables import installation


def get_or_create(conn: Connection, key: str, make: Callable[[], str]) -> str:
    """Return the value of ``key``, storing ``make()`` first if absent.

    Safe when several processes start at once: the first insert wins and
    everyone reads the winner's value.
    """
    value = conn.execute(select(installation.c.value).where(installation.c.key == key)).scalar_one_or_none()
    if value is not None:
        return str(value)
    conn.execute(insert_ignore(conn, installation, ["key"]).values(key=key, value=make()))
    return str(conn.execute(select(installation.c.value).where(installation.c.key == key)).scalar_one())
