"""The log line of a request whose database connection a PostgreSQL restart broke (``api/middleware.py``)."""

from __future__ import annotations

import logging

import asyncpg.exceptions
import pytest
from sqlalchemy.exc import DBAPIError

from schedy.server.api import middleware


def test_the_log_says_the_database_restarted_not_asyncpgs_protocol_state(caplog: pytest.LogCaptureFixture) -> None:
    middleware._LOGGED_AT.clear()  # this process may have logged one in the last minute
    orig = asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    with caplog.at_level(logging.DEBUG):
        answer = middleware.trouble_answer(DBAPIError("SELECT 1", None, orig))
    assert answer is not None
    assert answer.status_code == 502
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "A connection to the database broke during a request (the database ended the session: it is restarting "
        "or shutting down); it was answered 502."
    ]
    assert any("cannot switch to state 12" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
