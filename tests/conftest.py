"""Fixtures shared by every test: real databases, real services over real HTTP.

``database_url`` and ``service`` are parametrised over SQLite and a
throwaway PostgreSQL cluster, so every store and API test runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from schedy.testing import Credentials, PostgresCluster, ServiceProcess

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole run; each user of it gets its own database.

    Its directory is a fresh one under the system's temporary directory, not
    pytest's: as root, the cluster runs as ``postgres``, which must reach it.
    """
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the test's own, which the test may stop and start (a database restart)."""
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def service_on_own_cluster(own_cluster: PostgresCluster, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service whose database is on :func:`own_cluster`."""
    process = ServiceProcess.start(tmp_path / "home", own_cluster.new_database())
    yield process
    process.stop()


def _database_url(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'schedy.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    return _database_url(request.param, request, tmp_path)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A real ``schedy server`` subprocess per backend, shared by the session."""
    home = tmp_path_factory.mktemp(f"server-{request.param}")
    process = ServiceProcess.start(home, _database_url(request.param, request, home))
    yield process
    process.stop()


@dataclass(frozen=True)
class Service:
    """A running service and a fresh user of it (what most tests need)."""

    process: ServiceProcess
    user: Credentials

    @property
    def url(self) -> str:
        """Service root with a trailing slash."""
        return self.process.url

    @property
    def email(self) -> str:
        """The fresh user's email."""
        return self.user.email

    @property
    def api_token(self) -> str:
        """The fresh user's API token."""
        return self.user.api_token

    @property
    def password(self) -> str:
        """The fresh user's password."""
        return self.user.password

    @property
    def client_config(self) -> dict[str, str]:
        """A ``config_override`` for ``schedy.SchedyDB``."""
        return self.user.client_config

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgres"``."""
        return "sqlite" if self.process.database_url.startswith("sqlite") else "postgres"

    def new_user(self) -> Credentials:
        """Another user of the same service."""
        return self.process.new_user()


@pytest.fixture
def service(server: ServiceProcess) -> Service:
    """The session's service for this backend, with a user of this test's own."""
    return Service(server, server.new_user())
