"""How a connection broken by a database restart is told in the log (``store/failures.py``).

The errors are the drivers' own, as asyncpg and psycopg raise them when PostgreSQL restarts under a
request; what the operator reads must name the restart, not asyncpg's protocol states.
"""

from __future__ import annotations

import asyncpg.exceptions
import pytest
from sqlalchemy.exc import DBAPIError

from schedy.server.store.failures import connection_lost, lost_reason


def _wrapped(orig: BaseException) -> DBAPIError:
    """As SQLAlchemy hands it to the service: its own error around the driver's."""
    return DBAPIError("SELECT 1", None, orig)


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    ],
    ids=["farewell-between-statements", "admin-shutdown"],
)
def test_a_connection_the_restarting_database_ended_is_said_so_without_asyncpg_internals(
    orig: BaseException,
) -> None:
    exc = _wrapped(orig)
    assert connection_lost(exc)
    said = lost_reason(exc)
    assert said == "the database ended the session: it is restarting or shutting down"
    assert "state" not in said
    assert "operation" not in said


def test_a_connection_closed_otherwise_is_said_to_be_a_restart_or_a_network_cut() -> None:
    exc = _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert connection_lost(exc)
    assert lost_reason(exc) == "the connection was closed: a database restart, or a network cut"
