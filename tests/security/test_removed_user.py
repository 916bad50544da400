"""A removed user, a revoked token, a changed password: nothing made afterwards outlives them.

Sessions are trusted for ``LIVENESS_TTL`` seconds between liveness checks
(api/deps.py ``Sessions``). Within those seconds a session whose user was
removed, or whose API token was revoked, must still make no credential
(``resettoken/`` checks in the database, in the transaction that stores the
token) and no experiment (which the removal would not delete); and a removed
user's tombstone never logs in, whatever was done to it. (SQLite and
PostgreSQL, real service, real HTTP.)
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from schedy.server import security
from schedy.server.errors import Unauthenticated
from schedy.server.service.auth import LIVENESS_TTL
from schedy.server.service.experiments import Experiments
from schedy.server.store import Store, users
from schedy.server.store.tables import api_tokens, experiments
from tests.security.conftest import jwt_secret, login


def _store(service) -> Store:
    return Store(service.process.database_url, pool_size=1)


def _password_session(url: str, email: str, password: str) -> httpx.Client:
    answer = httpx.post(url + "passauth/", json={"email": email, "token": password})
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=30)


def _cached(client: httpx.Client) -> float:
    """Have the service check the session's liveness now (so it trusts it for a while); when that was."""
    assert client.get("experiments/").status_code == 200
    return time.monotonic()


def _within_the_window(checked_at: float) -> None:
    # The service trusts the session until checked_at + LIVENESS_TTL: a request after that
    # would be refused by the cache's own recheck, and prove nothing about resettoken/.
    assert time.monotonic() - checked_at < LIVENESS_TTL - 1, "too slow to test the liveness window"


def _owned(service, user_id: int) -> tuple[int, int]:
    """``(experiments, live API tokens)`` the user ``user_id`` owns in the database."""
    store = _store(service)
    try:
        with store.read() as conn:
            made = conn.execute(
                select(func.count()).select_from(experiments).where(experiments.c.owner_id == user_id)
            ).scalar_one()
            live = conn.execute(
                select(func.count())
                .select_from(api_tokens)
                .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            ).scalar_one()
    finally:
        store.dispose()
    return int(made), int(live)


def _remove(service, email: str) -> int:
    """Remove the user as ``schedy user remove`` does; its id."""
    store = _store(service)
    try:
        with store.write() as conn:
            row = users.by_email(conn, email)
            assert row is not None
            assert users.remove(conn, email)
        Experiments(store).finish_deletes()  # its experiments, detached by the removal
    finally:
        store.dispose()
    return int(row.id)


def test_a_removed_users_cached_sessions_make_no_token_and_no_experiment(service):
    victim = service.new_user()
    sessions = [
        login(service.url, victim.email, victim.api_token),
        _password_session(service.url, victim.email, victim.password),
    ]
    for client in sessions:
        assert client.put("experiments/before/", json={"scheduler": {"Manual": None}}).status_code in (200, 201)
    checked_at = min(_cached(client) for client in sessions)
    user_id = _remove(service, victim.email)
    _within_the_window(checked_at)
    for client in sessions:
        minted = client.post("resettoken/", json={"label": "after removal"})
        assert minted.status_code == 401, minted.text
        assert "removed user" not in minted.text
        assert "authenticate again" in minted.json()["detail"]
        made = client.put("experiments/after-removal/", json={"scheduler": {"Manual": None}})
        assert made.status_code == 401, made.text
    _within_the_window(checked_at)
    # Nothing outlives the removal under the tombstone: no experiment, no live token.
    assert _owned(service, user_id) == (0, 0)
    for client in sessions:
        client.close()
    for path, secret in (("token/", victim.api_token), ("passauth/", victim.password)):
        refused = httpx.post(service.url + path, json={"email": victim.email, "token": secret})
        assert refused.status_code == 403, refused.text


def test_a_tombstone_never_logs_in_even_with_a_token_or_password_given_to_it(service):
    """Tombstones left by earlier versions (a non-empty session key, tokens minted after removal) or given a
    password by mistake (``schedy user passwd 'removed user #…'``) still open nothing."""
    victim = service.new_user()
    user_id = _remove(service, victim.email)
    store = _store(service)
    try:
        with store.write() as conn:
            row = users.by_id(conn, user_id)
            assert row is not None
            assert users.is_removed(row.email)
            assert row.session_key == ""  # no session is ever accepted with an empty key
            tombstone = row.email
            users.set_password(conn, user_id, security.hash_password("a password for the tombstone"))
            users.add_token(conn, user_id, security.hash_api_token("tombstone-token-123456"), "minted late")
    finally:
        store.dispose()
    for path, secret in (("token/", "tombstone-token-123456"), ("passauth/", "a password for the tombstone")):
        refused = httpx.post(service.url + path, json={"email": tombstone, "token": secret})
        assert refused.status_code == 403, (path, refused.text)


@pytest.mark.parametrize("how", ["revoked token", "password changed"])
def test_an_ended_session_cannot_mint_a_token_within_the_liveness_window(service, how):
    user = service.new_user()
    if how == "revoked token":
        client = login(service.url, user.email, user.api_token)
    else:
        client = _password_session(service.url, user.email, user.password)
    checked_at = _cached(client)
    store = _store(service)
    try:
        with store.write() as conn:
            row = users.by_email(conn, user.email)
            assert row is not None
            if how == "revoked token":
                for token in users.tokens_of(conn, row.id):
                    assert users.revoke_token(conn, row.id, token.id)
            else:
                users.set_password(conn, row.id, security.hash_password("a new password 123"))
    finally:
        store.dispose()
    _within_the_window(checked_at)
    live_before = _owned(service, row.id)[1]
    minted = client.post("resettoken/", json={"label": "innocent-looking"})
    assert minted.status_code == 401, minted.text
    assert "authenticate again" in minted.json()["detail"]
    _within_the_window(checked_at)
    assert _owned(service, row.id)[1] == live_before
    client.close()


def test_a_live_session_still_mints_tokens(service):
    user = service.new_user()
    for client in (
        login(service.url, user.email, user.api_token),
        _password_session(service.url, user.email, user.password),
    ):
        _cached(client)
        minted = client.post("resettoken/", json={"label": "still fine"})
        assert minted.status_code == 200, minted.text
        assert minted.json()["email"] == user.email
        assert httpx.post(service.url + "token/", json=minted.json()).status_code == 200
        client.close()


HUGE = 99999999999999999999999


def _forged(service, claims: dict) -> str:
    """A new user's session token with ``claims`` changed, signed with the service's own secret."""
    user = service.new_user()
    genuine = jwt.decode(
        httpx.post(service.url + "token/", json={"email": user.email, "token": user.api_token}).json()["token"],
        options={"verify_signature": False},
    )
    return jwt.encode({**genuine, **claims}, jwt_secret(service.process.database_url), algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": str(HUGE)},
        {"sub": str(2**63)},
        {"sub": str(-(2**63) - 1)},
        {"tid": HUGE},
        {"tid": 2**63},
        {"tid": -HUGE},
    ],
    ids=["huge sub", "sub 2^63", "sub below -2^63", "huge tid", "tid 2^63", "huge negative tid"],
)
def test_a_signed_session_naming_an_impossible_id_is_an_invalid_session(service, claims):
    token = _forged(service, claims)
    for method, path in (("GET", "experiments/"), ("POST", "resettoken/"), ("PUT", "experiments/x/")):
        answer = httpx.request(
            method,
            service.url + path,
            headers={"Authorization": f"Bearer {token}"},
            json={"scheduler": {"Manual": None}} if method == "PUT" else None,
        )
        assert answer.status_code == 401, (method, path, answer.text)
        assert "session token is invalid" in answer.json()["detail"]
        assert answer.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize("claims", [{"sub": str(2**63 - 1)}, {"tid": 2**63 - 1}], ids=["sub", "tid"])
def test_a_signed_session_naming_the_largest_id_is_an_ended_session(service, claims):
    token = _forged(service, claims)
    for method, path in (("GET", "experiments/"), ("POST", "resettoken/")):
        answer = httpx.request(method, service.url + path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, (method, path, answer.text)
        assert "authenticate again" in answer.json()["detail"]


def test_read_session_keeps_ids_within_the_64_bit_signed_range():
    secret = security.new_jwt_secret()
    largest, _ = security.issue_session(secret, 2**63 - 1, 2**63 - 1, 60, "key")
    session = security.read_session(secret, largest)
    assert (session.user_id, session.token_id) == (2**63 - 1, 2**63 - 1)
    now = int(time.time())
    for claims in (
        {"sub": str(2**63)},
        {"sub": "1", "tid": 2**63},
        {"sub": "1", "tid": True},
        {"sub": "1", "tid": 1.5},
    ):
        token = jwt.encode({"exp": now + 60, "key": "key", **claims}, secret, algorithm="HS256")
        with pytest.raises(Unauthenticated, match="invalid"):
            security.read_session(secret, token)


def test_a_removal_while_the_users_workers_run_leaves_nothing_and_answers_no_500(service):
    """Workers creating experiments, claiming, reporting and minting tokens as the user is removed (both databases).

    The removal takes the user's row first, as every check of a session in the database does: no deadlock,
    no experiment made after it, no token left live; the workers' requests in flight end in 4xx, never 500.
    """
    import threading

    victim = service.new_user()
    stop = threading.Event()
    statuses: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        client = login(service.url, victim.email, victim.api_token)
        i = 0
        try:
            while not stop.is_set():
                i += 1
                name = f"w{n}-{i}"
                answers = [
                    client.put(
                        f"experiments/{name}/",
                        json={"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}},
                    )
                ]
                claimed = client.post(f"experiments/{name}/nextjob/", json={"worker": f"w{n}"})
                answers.append(claimed)
                if claimed.status_code == 200:
                    job = claimed.json()["id"]
                    answers.append(
                        client.post(
                            f"experiments/{name}/jobs/{job}/reports/", json={"step": 1, "metrics": {"loss": 0.5}}
                        )
                    )
                answers.append(client.post("resettoken/", json={"label": f"w{n}"}))
                with lock:
                    statuses.extend(answer.status_code for answer in answers)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    user_id = _remove(service, victim.email)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert statuses, "the workers did nothing"
    assert [s for s in statuses if s >= 500] == []
    _store_finish = _store(service)
    try:
        Experiments(_store_finish).finish_deletes()  # what a service's start (or the next removal) finishes
    finally:
        _store_finish.dispose()
    assert _owned(service, user_id) == (0, 0)
