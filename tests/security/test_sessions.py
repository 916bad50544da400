"""Sessions never outlive their user, never open another user's account, and end on a password change.

SQLite gives the id of the newest deleted row to the next row: a session
naming a removed user by id alone would open the next user created.
(SQLite and PostgreSQL, real service, real HTTP.)
"""

from __future__ import annotations

import time

import httpx
import pytest

from schedy.server import security
from schedy.server.service.auth import LIVENESS_TTL
from schedy.server.store import Store, users
from tests.cli.conftest import clean_env, schedy_argv


def _session(url: str, path: str, email: str, secret: str) -> httpx.Client:
    answer = httpx.post(url + path, json={"email": email, "token": secret})
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=30)


def _store(service) -> Store:
    return Store(service.process.database_url, pool_size=1)


def test_a_removed_users_sessions_open_nothing_not_even_the_next_user_given_its_ids(service):
    victim = service.new_user()
    sessions = [
        _session(service.url, "token/", victim.email, victim.api_token),
        _session(service.url, "passauth/", victim.email, victim.password),
    ]
    for client in sessions:
        assert client.put("experiments/mine/", json={"scheduler": {"Manual": None}}).status_code in (200, 201)
    store = _store(service)
    try:
        with store.write() as conn:
            assert users.remove(conn, victim.email)
        # The next user, made as an admin would (SQLite would give it the freed ids if the row were deleted).
        with store.write() as conn:
            user_id = users.create(conn, "next@example.com" + str(time.monotonic_ns()), security.hash_password("pw"))
            users.add_token(conn, user_id, security.hash_api_token("next-token-123456"), "next")
    finally:
        store.dispose()
    time.sleep(LIVENESS_TTL + 0.5)  # past the per-process liveness cache
    for client in sessions:
        answer = client.get("experiments/")
        assert answer.status_code == 401, answer.text
        assert "authenticate again" in answer.json()["detail"]
        assert client.put("experiments/theirs/", json={"scheduler": {"Manual": None}}).status_code == 401
        client.close()
    # The removed user cannot log in again, and is not listed.
    refused = httpx.post(service.url + "token/", json={"email": victim.email, "token": victim.api_token})
    assert refused.status_code == 403
    refused = httpx.post(service.url + "passauth/", json={"email": victim.email, "token": victim.password})
    assert refused.status_code == 403
    store = _store(service)
    try:
        with store.read() as conn:
            listed = [row.email for row in users.all_users(conn)]
    finally:
        store.dispose()
    assert victim.email not in listed
    assert not any(users.is_removed(email) for email in listed)


def test_a_password_change_ends_the_users_sessions(service):
    user = service.new_user()
    client = _session(service.url, "passauth/", user.email, user.password)
    assert client.get("experiments/").status_code == 200
    store = _store(service)
    try:
        with store.write() as conn:
            row = users.by_email(conn, user.email)
            assert row is not None
            users.set_password(conn, row.id, security.hash_password("a new password"))
    finally:
        store.dispose()
    time.sleep(LIVENESS_TTL + 0.5)
    assert client.get("experiments/").status_code == 401
    client.close()
    fresh = _session(service.url, "passauth/", user.email, "a new password")
    with fresh:
        assert fresh.get("experiments/").status_code == 200
    # API tokens still work: a worker logs in again with its token.
    again = _session(service.url, "token/", user.email, user.api_token)
    with again:
        assert again.get("experiments/").status_code == 200


@pytest.mark.parametrize("confirm", [["-f"], []])
def test_schedy_user_remove(service, tmp_path, confirm):
    import subprocess

    user = service.new_user()
    client = _session(service.url, "token/", user.email, user.api_token)
    command = schedy_argv("user", "remove", user.email, *confirm, "--database", service.process.database_url)
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(tmp_path), stdin=subprocess.DEVNULL)
    if not confirm:  # no terminal to confirm on: nothing removed, a sentence, non-zero
        assert done.returncode != 0
        assert "pass -f" in done.stderr
        assert client.get("experiments/").status_code == 200
        client.close()
        return
    assert done.returncode == 0, done.stderr
    assert f"Removed {user.email}" in done.stdout
    time.sleep(LIVENESS_TTL + 0.5)
    assert client.get("experiments/").status_code == 401
    client.close()
    missing = subprocess.run(
        schedy_argv("user", "remove", user.email, "-f", "--database", service.process.database_url),
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
    )
    assert missing.returncode != 0
    assert "There is no user" in missing.stderr
