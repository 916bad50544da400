"""Fixtures for the security tests: a victim with data, and ways to look at the database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from schedy.server.store import Store, installation, users
from schedy.testing import Credentials


def login(url: str, email: str, api_token: str) -> httpx.Client:
    """An HTTP client carrying a session token obtained with ``api_token``."""
    client = httpx.Client(base_url=url, timeout=60)
    answer = client.post("token/", json={"email": email, "token": api_token})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = "Bearer " + answer.json()["token"]
    return client


def exp_path(name: str) -> str:
    """``experiments/NAME/``, percent-encoded as docs/protocol.md says."""
    return f"experiments/{quote(name, safe='')}/"


def jwt_secret(database_url: str) -> str:
    """The installation's session-signing secret, read from the database."""
    store = Store(database_url, pool_size=1)
    try:
        with store.read() as conn:
            found = installation.get_or_create(conn, "jwt_secret", lambda: "unused")
    finally:
        store.dispose()
    return found


def token_ids(database_url: str, email: str) -> list[int]:
    """The ids of a user's API tokens, oldest first."""
    store = Store(database_url, pool_size=1)
    try:
        with store.read() as conn:
            user = users.by_email(conn, email)
            assert user is not None
            return [row.id for row in users.tokens_of(conn, user.id)]
    finally:
        store.dispose()


def revoke_all_tokens(database_url: str, email: str) -> None:
    """Revoke every API token of a user, as ``schedy token revoke`` would."""
    store = Store(database_url, pool_size=1)
    try:
        with store.write() as conn:
            user = users.by_email(conn, email)
            assert user is not None
            for row in users.tokens_of(conn, user.id):
                users.revoke_token(conn, user.id, row.id)
    finally:
        store.dispose()


@dataclass
class Victim:
    """A user whose data nobody else may read or change.

    Every value it stored contains ``marker``, so any answer that carries
    its data shows it.
    """

    user: Credentials
    user_id: int
    experiment: str
    job_id: str
    token_id: int
    marker: str
    http: httpx.Client

    def snapshot(self) -> tuple[dict, list[dict]]:
        """The experiment and its jobs, without the times that change on their own."""
        exp = self.http.get(exp_path(self.experiment))
        assert exp.status_code == 200, exp.text
        jobs = self.http.get(exp_path(self.experiment) + "jobs/")
        assert jobs.status_code == 200, jobs.text
        keep = ("id", "status", "hyperparameters", "results", "attempt")
        return (
            {k: v for k, v in exp.json().items() if k in ("name", "status", "scheduler")},
            [{k: job[k] for k in keep} for job in jobs.json()["items"]],
        )


@pytest.fixture
def victim(service) -> Iterator[Victim]:
    """A fresh user with an experiment, a queued job and a running job, all marked."""
    marker = "victim-" + secrets.token_hex(6)
    user = service.new_user()
    http = login(service.url, user.email, user.api_token)
    name = f"{marker}-experiment"
    created = http.put(
        exp_path(name), json={"status": "RUNNING", "scheduler": {"Manual": None}}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 201, created.text
    job = http.post(exp_path(name) + "jobs/", json={"hyperparameters": {"secret": marker}, "results": {"r": marker}})
    assert job.status_code == 201, job.text
    queued = http.post(exp_path(name) + "jobs/", json={"hyperparameters": {"secret": marker + "-2"}})
    assert queued.status_code == 201, queued.text
    claimed = http.post(exp_path(name) + "nextjob/", json={"worker": marker})
    assert claimed.status_code == 200, claimed.text
    store = Store(service.process.database_url, pool_size=1)
    try:
        with store.read() as conn:
            row = users.by_email(conn, user.email)
            assert row is not None
            user_id = row.id
    finally:
        store.dispose()
    yield Victim(
        user=user,
        user_id=user_id,
        experiment=name,
        job_id=job.json()["id"],
        token_id=token_ids(service.process.database_url, user.email)[0],
        marker=marker,
        http=http,
    )
    http.close()
