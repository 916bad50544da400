"""Fixtures of the client tests: a scripted stub service, and databases on it or on the real one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import schedy
from tests.client.stub import Stub, make_transport


@pytest.fixture
def stub() -> Iterator[Stub]:
    """A scripted HTTP service (see ``stub.py``)."""
    server = Stub()
    yield server
    server.close()


@pytest.fixture
def stub_db(stub: Stub) -> Iterator[schedy.SchedyDB]:
    """A SchedyDB talking to the stub, retrying fast, heartbeats off."""
    with schedy.SchedyDB(transport=make_transport(stub.url), heartbeat=0) as db:
        yield db


@pytest.fixture
def db(service: Any) -> Iterator[schedy.SchedyDB]:
    """A SchedyDB of a fresh user of the real service (SQLite and PostgreSQL)."""
    with schedy.SchedyDB(config_override=service.client_config) as database:
        yield database
