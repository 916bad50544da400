"""The client renews its session token by the lifetime the service granted, not by its own wall clock.

A worker whose clock is ahead by nearly the token's lifetime used to see it
expire "any second" and log in again on (almost) every request; one behind
used it past its expiry. Against the real service, with this process's
``time.time`` (only as the transport sees it) skewed.
"""

from __future__ import annotations

import time
import types
from typing import Any

import pytest

import schedy
from schedy import _transport

TTL = 3600  # the service's default session lifetime
MARGIN = 60  # renewed this long before it expires


class _SkewedTime(types.ModuleType):
    """The ``time`` module with ``time.time()`` off by ``skew`` seconds (monotonic clocks are not wall clocks)."""

    def __init__(self, skew: float) -> None:
        super().__init__("time")
        self.skew = skew

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + self.skew


@pytest.mark.parametrize("skew", [TTL - 2, -2 * TTL], ids=["ahead", "behind"])
def test_the_token_lasts_its_granted_lifetime_whatever_this_machine_s_clock(
    service: Any, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    monkeypatch.setattr(_transport, "time", _SkewedTime(skew))
    logins = []
    renew = _transport.Transport._renew

    def counted(self: Any, stale: Any) -> Any:
        logins.append(time.monotonic())
        return renew(self, stale)

    monkeypatch.setattr(_transport.Transport, "_renew", counted)
    with schedy.SchedyDB(config_override=service.client_config, heartbeat=0) as db:
        db.add_experiment(schedy.ManualSearch("renewal"))
        token = db._transport._token
        assert token is not None
        assert token.deadline is not None
        # Renewed a minute before the hour is up, counted on the monotonic clock from the login.
        assert TTL - MARGIN - 5 < token.deadline - time.monotonic() <= TTL - MARGIN
        if skew > 0:
            # By the skewed clock the token had about 2 s left: requests 2 s later still use it.
            time.sleep(2.1)
            db.get_experiment("renewal")
            db.get_experiment("renewal").add_job(hyperparameters={"x": 1})
    assert len(logins) == 1
