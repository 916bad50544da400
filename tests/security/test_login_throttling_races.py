"""Login throttling holds against parallel guesses and against guesses from many addresses.

A burst of parallel wrong passwords used to be checked in full (37 of 100)
before the first failure was recorded, and rotating ``X-Forwarded-For`` on
loopback gave a guesser a fresh count per request.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from schedy.server import security
from schedy.server.errors import Forbidden, TooManyRequests
from schedy.server.service.auth import Auth, Throttle
from schedy.server.store import Store, migrate, users
from tests import aio

DEFAULTS = Throttle()


async def _burst(url: str, path: str, email: str, secrets: list[str], addresses: list[str]) -> list[httpx.Response]:
    """Send one login per (secret, address) all at once."""
    limits = httpx.Limits(max_connections=len(secrets))
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(path, json={"email": email, "token": secret}, headers={"X-Forwarded-For": address})
                    for secret, address in zip(secrets, addresses, strict=True)
                )
            )
        )


def _statuses(answers: list[httpx.Response]) -> collections.Counter[int]:
    return collections.Counter(answer.status_code for answer in answers)


@pytest.mark.parametrize("path", ["passauth/", "token/"])
def test_parallel_guesses_from_one_address_are_checked_no_more_than_the_limit(service, path):
    guesses = 4 * DEFAULTS.max_failures
    answers = aio.run(
        _burst(service.url, path, service.email, [f"guess-{i}" for i in range(guesses)], ["192.0.2.44"] * guesses)
    )
    statuses = _statuses(answers)
    assert set(statuses) <= {403, 429}, [a.text for a in answers if a.status_code not in (403, 429)]
    assert statuses[403] == DEFAULTS.max_failures  # each one checked and found wrong; none more
    assert statuses[429] == guesses - DEFAULTS.max_failures

    # Locked out, even for the right password; a valid API token (which cannot be guessed) still logs in.
    def again(path: str, right: str) -> int:
        body = {"email": service.email, "token": right}
        return httpx.post(service.url + path, json=body, headers={"X-Forwarded-For": "192.0.2.44"}).status_code

    assert again("passauth/", service.password) == 429
    assert again("token/", service.api_token) == 200


def test_password_guesses_from_rotating_addresses_stop_at_the_accounts_limit_but_tokens_still_log_in(service):
    guesses = DEFAULTS.account_max_failures + 20
    addresses = [f"10.{i // 250}.{i % 250}.7" for i in range(guesses)]  # X-Forwarded-For, trusted on loopback
    answers = aio.run(
        _burst(service.url, "passauth/", service.email, [f"guess-{i}" for i in range(guesses)], addresses)
    )
    statuses = _statuses(answers)
    assert set(statuses) <= {403, 429}, [a.text for a in answers if a.status_code not in (403, 429)]
    assert statuses[403] == DEFAULTS.account_max_failures
    refused = [a for a in answers if a.status_code == 429]
    assert all("API tokens still log in" in a.json()["detail"] and int(a.headers["retry-after"]) > 0 for a in refused)

    def login(path: str, secret: str, address: str) -> httpx.Response:
        body = {"email": service.email, "token": secret}
        return httpx.post(service.url + path, json=body, headers={"X-Forwarded-For": address})

    # The right password from yet another address is refused too: the guesser cannot tell it apart.
    assert login("passauth/", service.password, "198.51.100.200").status_code == 429
    # The account's workers and CLI log in with their API token as before, from anywhere.
    assert login("token/", service.api_token, "198.51.100.201").status_code == 200
    assert login("token/", service.api_token, addresses[0]).status_code == 200
    # Another account is not affected.
    other = service.new_user()
    assert (
        httpx.post(
            service.url + "passauth/",
            json={"email": other.email, "token": other.password},
            headers={"X-Forwarded-For": addresses[1]},
        ).status_code
        == 200
    )


@pytest.fixture
def two_processes(database_url):
    """Two ``Auth`` with their own stores on one database (as two service processes), and bob's API token."""
    stores = [Store(database_url, pool_size=8) for _ in range(2)]
    migrate.upgrade(stores[0])
    token = security.new_api_token()
    with stores[0].write() as conn:
        user_id = users.create(conn, "bob@example.com", security.hash_password("right password"))
        users.add_token(conn, user_id, security.hash_api_token(token), "cluster")
    yield stores, token
    for store in stores:
        store.dispose()


def _outcome(login) -> str:
    try:
        login()
    except Forbidden:
        return "checked"
    except TooManyRequests:
        return "refused"
    return "logged in"


def test_after_the_lockout_a_burst_on_two_processes_gets_one_more_check(two_processes):
    stores, _ = two_processes
    throttle = Throttle(max_failures=3, window=60.0, lockout=2.0)
    secret = security.new_jwt_secret()
    auths = [Auth(store, secret, 60, throttle) for store in stores]

    def burst(n: int) -> collections.Counter[str]:
        def guess(i: int) -> str:
            return _outcome(lambda: auths[i % 2].login_with_password("bob@example.com", f"guess-{i}", "203.0.113.5"))

        with ThreadPoolExecutor(max_workers=12) as pool:
            return collections.Counter(pool.map(guess, range(n)))

    assert burst(24) == {"checked": 3, "refused": 21}
    time.sleep(throttle.lockout + 0.5)
    assert burst(24) == {"checked": 1, "refused": 23}  # one more try, not one per thread
    time.sleep(throttle.lockout + 0.5)
    assert _outcome(lambda: auths[0].login_with_password("bob@example.com", "right password", "203.0.113.5")) == (
        "logged in"
    )
    # The correct login forgave the address's failures.
    assert _outcome(lambda: auths[1].login_with_password("bob@example.com", "guess", "203.0.113.5")) == "checked"


def test_an_account_flooded_from_many_addresses_logs_in_with_its_token_and_later_with_its_password(two_processes):
    stores, token = two_processes
    throttle = Throttle(max_failures=100, account_max_failures=4, account_window=60.0, lockout=2.0)
    secret = security.new_jwt_secret()
    auths = [Auth(store, secret, 60, throttle) for store in stores]

    def guess(i: int) -> str:
        return _outcome(lambda: auths[i % 2].login_with_password("bob@example.com", "guess", f"198.18.0.{i}"))

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert collections.Counter(pool.map(guess, range(20))) == {"checked": 4, "refused": 16}
    right = lambda: auths[0].login_with_password("BOB@example.com", "right password", "198.18.1.1")  # noqa: E731
    assert _outcome(right) == "refused"
    assert _outcome(lambda: auths[1].login_with_token("bob@example.com", token, "198.18.1.2")) == "logged in"
    time.sleep(throttle.lockout + 0.5)
    assert _outcome(right) == "logged in"  # the owner's one try after the lockout
