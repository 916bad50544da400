"""Per-installation values kept in the database (e.g. the JWT signing secret).

Kept in the database rather than a file so that every service process on
every host signs and checks session tokens with the same secret, ends
lapsed leases after the same grace (:data:`LEASE_GRACE`), and knows which
artifact store holds the database's artifact files (:data:`ARTIFACT_STORE`).
``schedy database copy`` replaces these rows in its target with the source's.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, select

from schedy.server.store.dialect import insert_ignore, upsert
from schedy.server.store.tables import installation

__all__ = [
    "ARTIFACT_STORE",
    "LEASE_GRACE",
    "get",
    "get_or_create",
    "lease_grace",
    "put",
]

#: The key of the lease grace of every process serving the database (seconds, as text): ``schedy server
#: --lease-grace``, set by the last process started with it; absent is 0.
LEASE_GRACE = "lease_grace"
#: The key of the id of the artifact store the database's artifact files are written to (the id in the
#: store's marker, :meth:`schedy.server.service.blobs.BlobStore.identity`); set by the first upload.
ARTIFACT_STORE = "artifact_store"


def get(conn: Connection, key: str) -> str | None:
    """The value of ``key``, ``None`` if absent (one row, by its primary key)."""
    value = conn.execute(select(installation.c.value).where(installation.c.key == key)).scalar_one_or_none()
    return None if value is None else str(value)


def put(conn: Connection, key: str, value: str) -> None:
    """Set ``key`` to ``value``, replacing any value it had (one atomic statement)."""
    conn.execute(upsert(conn, installation, {"key": key}, {"value": value}))


def get_or_create(conn: Connection, key: str, make: Callable[[], str]) -> str:
    """Return the value of ``key``, storing ``make()`` first if absent.

    Safe when several processes start at once: the first insert wins and
    everyone reads the winner's value.
    """
    value = get(conn, key)
    if value is not None:
        return value
    conn.execute(insert_ignore(conn, installation, ["key"]).values(key=key, value=make()))
    return str(conn.execute(select(installation.c.value).where(installation.c.key == key)).scalar_one())


def lease_grace(conn: Connection) -> float:
    """The lease grace every process serving the database applies, seconds (0 if none was ever set)."""
    value = get(conn, LEASE_GRACE)
    try:
        grace = float(value) if value is not None else 0.0
    except ValueError:  # never written so by Schedy: the default rather than a sweep that always fails
        return 0.0
    return grace if 0 <= grace < 1e9 else 0.0
