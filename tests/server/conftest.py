"""Fixtures for the service's tests: an authenticated HTTP client of the real service, a migrated store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from schedy.server.store import Store, migrate
from schedy.testing import Credentials


def worker_processes(pid: int) -> set[int]:
    """The child processes of a service process ``pid`` (its workers), from /proc (Linux).

    multiprocessing's resource tracker is left out: it is not a worker, and outlives a restart of them.
    """
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and "resource_tracker" not in (entry / "cmdline").read_text(errors="replace"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


class Api:
    """A thin authenticated HTTP client speaking the protocol of docs/protocol.md, for tests."""

    def __init__(self, url: str, user: Credentials) -> None:
        self.user = user
        self.http = httpx.Client(base_url=url, timeout=60)
        answer = self.http.post("token/", json={"email": user.email, "token": user.api_token})
        answer.raise_for_status()
        self.http.headers["Authorization"] = "Bearer " + answer.json()["token"]

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """Send ``body`` as JSON (NaN allowed) or raw bytes/str."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.http.request(method, path, content=body, **kwargs)

    def create_experiment(self, name: str, scheduler: Any = None, status: str = "RUNNING", **options: Any) -> str:
        """Create an experiment; return its path prefix ``experiments/NAME/``."""
        body = {"status": status, "scheduler": scheduler if scheduler is not None else {"Manual": None}, **options}
        answer = self.request("PUT", exp_path(name), body, headers={"If-None-Match": "*"})
        assert answer.status_code == 201, answer.text
        return exp_path(name)

    def add_job(self, name: str, **job: Any) -> httpx.Response:
        """POST a job; return the answer."""
        return self.request("POST", exp_path(name) + "jobs/", job)

    def all_jobs(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Every job, following pages."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {} if limit is None else {"limit": limit}
        while True:
            answer = self.http.get(exp_path(name) + "jobs/", params=params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items += page["items"]
            if page["next"] is None:
                return items
            params["start"] = page["next"]

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


def exp_path(name: str) -> str:
    """``experiments/NAME/`` with the name encoded as docs/protocol.md says."""
    return f"experiments/{quote(name, safe='')}/"


@pytest.fixture
def api(service: Any) -> Iterator[Api]:
    """An HTTP client logged in as the test's own user."""
    client = Api(service.url, service.user)
    yield client
    client.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on the test's database (SQLite and PostgreSQL), without a service."""
    opened = Store(database_url, pool_size=2)
    migrate.upgrade(opened)
    yield opened
    opened.dispose()
