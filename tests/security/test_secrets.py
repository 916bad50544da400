"""Secrets at rest: passwords and API tokens only as hashes, a per-installation JWT secret, private files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from schedy.server.bootstrap import write_client_config
from schedy.server.store import Store
from schedy.server.store.tables import metadata
from schedy.testing import ServiceProcess
from tests.security.conftest import jwt_secret


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _every_stored_value(database_url: str) -> str:
    """Every value of every table, as text."""
    store = Store(database_url, pool_size=1)
    try:
        with store.read() as conn:
            return "\n".join(
                repr(tuple(row)) for table in metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        store.dispose()


def _schedy(home: Path, *args: str, stdin: str = "") -> str:
    env = {**os.environ, "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(home / "client.json")}
    command = [sys.executable, "-m", "schedy.cli.main", *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def installation(database_url, tmp_path):
    """A fresh service logging at debug level, on a fresh database of each backend."""
    process = ServiceProcess.start(tmp_path / "home", database_url, extra_args=("--log-level", "debug"))
    yield process
    process.stop()


def test_passwords_and_api_tokens_are_stored_and_logged_only_as_hashes(installation, tmp_path):
    url = installation.url
    password = "correct horse battery staple 42"
    printed = _schedy(
        tmp_path, "user", "add", "alice@example.com", "--password-stdin", "--database", installation.database_url,
        stdin=password + "\n",
    )
    api_token = printed.split("API token (shown once): ")[1].split()[0]
    new_password = "another long passphrase 43"
    _schedy(
        tmp_path, "user", "passwd", "alice@example.com", "--password-stdin", "--database", installation.database_url,
        stdin=new_password + "\n",
    )
    secrets = {"password": password, "new password": new_password, "API token": api_token}
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("passauth/", json={"email": "alice@example.com", "token": password}).status_code == 403
        assert http.post("passauth/", json={"email": "alice@example.com", "token": new_password}).status_code == 200
        session = http.post("token/", json={"email": "alice@example.com", "token": api_token})
        assert session.status_code == 200
        http.headers["Authorization"] = "Bearer " + session.json()["token"]
        reset = http.post("resettoken/")
        assert reset.status_code == 200
        secrets["token from resettoken/"] = reset.json()["token"]
        assert http.post("token/", json={"email": "alice@example.com", "token": api_token + "x"}).status_code == 403
    installation.stop()  # flush everything it would log

    stored = _every_stored_value(installation.database_url)
    assert "$argon2id$" in stored  # the password is there, as an Argon2id hash
    places = {"the database": stored, "the service's log": installation.log()}
    if installation.database_url.startswith("sqlite"):
        for path in installation.home.glob("schedy.db*"):  # the file, its WAL and shared memory
            places[path.name] = path.read_bytes().decode("latin-1")
    for what, secret in secrets.items():
        for where, text in places.items():
            assert secret not in text, f"the {what} is in {where} in clear"


def test_each_installation_signs_sessions_with_its_own_strong_secret(pg_cluster, tmp_path):
    one = ServiceProcess.start(tmp_path / "one")
    two = ServiceProcess.start(tmp_path / "two", pg_cluster.new_database())
    try:
        secrets = [jwt_secret(one.database_url), jwt_secret(two.database_url)]
        assert secrets[0] != secrets[1]
        assert all(len(bytes.fromhex(secret)) >= 32 for secret in secrets)  # 256 bits
        # The same email on both: a session of one opens nothing on the other.
        user = one.new_user("same@example.com")
        two.new_user("same@example.com")
        session = httpx.post(one.url + "token/", json={"email": user.email, "token": user.api_token}).json()["token"]
        headers = {"Authorization": f"Bearer {session}"}
        assert httpx.get(one.url + "experiments/", headers=headers).status_code == 200
        assert httpx.get(two.url + "experiments/", headers=headers).status_code == 401
    finally:
        one.stop()
        two.stop()


def test_the_sqlite_database_and_the_first_start_config_are_private(tmp_path):
    with ServiceProcess.start(tmp_path / "home") as process:
        api = process.first_start_config()
        answer = httpx.post(process.url + "token/", json={"email": api["email"], "token": api["token"]})
        assert answer.status_code == 200  # a write happened: the WAL exists
        files = sorted(process.home.glob("schedy.db*"))
        assert {path.name for path in files} >= {"schedy.db", "schedy.db-wal"}
        for path in [*files, process.home / "client.json"]:
            assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


def test_rewriting_a_client_config_makes_it_private(tmp_path):
    path = tmp_path / "client.json"
    path.write_text("{}")
    path.chmod(0o644)
    config = {"root": "http://127.0.0.1:8700/", "email": "a@b.c", "token": "t", "token_type": "api_token"}
    write_client_config(path, config)
    assert _mode(path) == 0o600
