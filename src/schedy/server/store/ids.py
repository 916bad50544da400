"""Job ids: short, URL-safe, random."""

from __future__ import annotations

import secrets

__all__ = ["new_job_id"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_job_id() -> str:
    """A short, URL-safe, random job id (64 random bits, 11 characters)."""
    n = secrets.randbits(64)
    out = []
    while n:
        n, digit = divmod(n, 62)
        out.append(_ALPHABET[digit])
    return "".join(out).rjust(11, "0")
