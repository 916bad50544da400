"""Login throttling: guessing a password is refused after a few failures; correct logins stay fast."""

from __future__ import annotations

import time

import httpx
import pytest

from schedy.server import security
from schedy.server.errors import Forbidden, TooManyRequests
from schedy.server.service.auth import Auth, Throttle
from schedy.server.store import Store, migrate, users
from schedy.testing import ServiceProcess

MAX_FAILURES = Throttle().max_failures


def _try(url: str, path: str, email: str, secret: str, address: str = "192.0.2.1") -> httpx.Response:
    # uvicorn takes the client's address from X-Forwarded-For when the request comes from 127.0.0.1,
    # as it does behind a reverse proxy on the same host.
    return httpx.post(url + path, json={"email": email, "token": secret}, headers={"X-Forwarded-For": address})


@pytest.mark.parametrize("guessed", ["passauth/", "token/"])
def test_repeated_failures_lock_out_that_email_from_that_address_even_with_the_right_password(service, guessed):
    right = service.password
    for _ in range(MAX_FAILURES):
        assert _try(service.url, guessed, service.email, "guess").status_code == 403
    locked = _try(service.url, "passauth/", service.email, right)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert 0 < int(locked.headers["retry-after"]) <= Throttle().lockout
    assert "Too many failed logins" in locked.json()["detail"]
    assert "token" not in locked.json()
    assert _try(service.url, "token/", service.email, "guess").status_code == 429  # a wrong token: refused too
    # A valid API token is never refused (it cannot be guessed): a worker whose address someone floods with
    # wrong passwords, or names in X-Forwarded-For, goes on logging in.
    assert _try(service.url, "token/", service.email, service.api_token).status_code == 200
    # Neither the owner elsewhere nor another user of this address is locked out.
    assert _try(service.url, "passauth/", service.email, right, address="198.51.100.7").status_code == 200
    other = service.new_user()
    assert _try(service.url, "passauth/", other.email, other.password).status_code == 200


def test_a_correct_login_forgives_earlier_failures(service):
    # token/ and passauth/ share the throttle; token/ failures cost no password hashing.
    for _ in range(MAX_FAILURES - 1):
        assert _try(service.url, "token/", service.email, "typo").status_code == 403
    assert _try(service.url, "token/", service.email, service.api_token).status_code == 200
    # Without the reset this failure would be the last one allowed, and the login after it refused.
    assert _try(service.url, "token/", service.email, "typo").status_code == 403
    assert _try(service.url, "token/", service.email, service.api_token).status_code == 200


def test_correct_logins_are_never_throttled(service):
    logins = 3 * MAX_FAILURES
    answers = [_try(service.url, "token/", service.email, service.api_token).status_code for _ in range(logins)]
    assert answers == [200] * logins


def test_failures_count_on_every_service_process(service, tmp_path):
    with ServiceProcess.start(tmp_path / "second", service.process.database_url) as second:
        half = MAX_FAILURES // 2
        for url in [service.url] * half + [second.url] * (MAX_FAILURES - half):
            assert _try(url, "token/", service.email, "guess").status_code == 403
        assert _try(service.url, "passauth/", service.email, service.password).status_code == 429
        assert _try(second.url, "passauth/", service.email, service.password).status_code == 429


def test_the_lockout_ends_and_the_window_forgets(database_url):
    store = Store(database_url, pool_size=2)
    migrate.upgrade(store)
    with store.write() as conn:
        users.create(conn, "bob@example.com", security.hash_password("right password"))
    # The window leaves room for slow Argon2 checks on a loaded machine (each login verifies a hash).
    throttle = Throttle(max_failures=2, window=10.0, lockout=1.5)
    auth = Auth(store, security.new_jwt_secret(), 60, throttle)

    def sleep_until(moment: float) -> None:
        time.sleep(max(0.0, moment - time.monotonic()))

    try:
        window_start = time.monotonic()
        for _ in range(2):
            with pytest.raises(Forbidden):
                auth.login_with_password("bob@example.com", "wrong", "203.0.113.9")
        last_failure = time.monotonic()
        with pytest.raises(TooManyRequests) as locked:
            auth.login_with_password("bob@example.com", "right password", "203.0.113.9")
        assert locked.value.retry_after in (1, 2)
        sleep_until(last_failure + throttle.lockout + 0.2)
        # One more try after the lockout; failing it locks again at once (still within the window).
        with pytest.raises(Forbidden):
            auth.login_with_password("BOB@example.com", "wrong", "203.0.113.9")
        with pytest.raises(TooManyRequests):
            auth.login_with_password("bob@example.com", "right password", "203.0.113.9")
        # Once the window and the lockout are over, the failures are forgotten.
        sleep_until(max(window_start + throttle.window, time.monotonic() + throttle.lockout) + 0.3)
        with pytest.raises(Forbidden):
            auth.login_with_password("bob@example.com", "wrong", "203.0.113.9")
        token, _ = auth.login_with_password("bob@example.com", "right password", "203.0.113.9")
        assert token
    finally:
        store.dispose()


def test_dashboard_logins_share_the_throttle_per_address(service):
    def dashboard(password: str, address: str) -> httpx.Response:
        return httpx.post(
            service.url + "dashboard/api/session/",
            json={"email": service.email, "password": password},
            headers={"X-Forwarded-For": address},
        )

    for _ in range(MAX_FAILURES):
        assert dashboard("guess", "192.0.2.9").status_code == 403
    assert dashboard(service.password, "192.0.2.9").status_code == 429
    # A guesser elsewhere cannot lock the owner out of the dashboard.
    assert dashboard(service.password, "198.51.100.9").status_code == 200


def test_a_revoked_token_still_in_use_is_refused_without_locking_out_its_users_live_tokens(service):
    # Workers still running with a revoked token log in again at every heartbeat; those logins are
    # no guesses (the token is real) and must not lock the user's live tokens out of the address.
    with httpx.Client(base_url=service.url, headers={"X-Forwarded-For": "192.0.2.1"}) as session:
        revoked = _new_revoked_token(session, service)

    for _ in range(3 * MAX_FAILURES):
        refused = _try(service.url, "token/", service.email, revoked)
        assert refused.status_code == 403
        assert "This API token was revoked" in refused.json()["detail"]
    assert _try(service.url, "token/", service.email, service.api_token).status_code == 200
    # A revoked token given with another user's email is a failure like any wrong token.
    other = service.new_user()
    assert "This API token" not in _try(service.url, "token/", other.email, revoked).json()["detail"]


def _new_revoked_token(session: httpx.Client, service) -> str:
    """A new API token of the service's user, revoked at once."""
    jwt = session.post("token/", json={"email": service.email, "token": service.api_token}).json()["token"]
    session.headers["Authorization"] = f"Bearer {jwt}"
    token: str = session.post("resettoken/", json={"label": "cluster"}).json()["token"]
    (listed,) = [t for t in session.get("tokens/").json()["items"] if t["label"] == "cluster"]
    assert session.delete(f"tokens/{listed['id']}/").status_code == 204
    return token
