"""Secrets: password hashing, API tokens and session tokens (JWT).

* Passwords are hashed with Argon2id (``argon2-cffi`` defaults).
* API tokens carry 192 random bits; only their SHA-256 is stored (a slow
  KDF adds nothing to a secret that cannot be guessed, and a fast hash lets
  ``token/`` find the token by an indexed lookup).
* Session tokens are HS256 JWTs signed with a per-installation secret kept
  in the database, so every service process accepts every other's tokens.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from schedy.server.errors import Unauthenticated

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both paths cost the same.

    Made at the first login rather than at import: a hash costs about 0.15 s,
    and every start of the service and of the CLI imports this module.
    """
    return _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (constant work if no hash)."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    """A fresh API token (shown once, stored hashed)."""
    return secrets.token_urlsafe(24)


def new_password() -> str:
    """A fresh random password for generated accounts.

    Never starting with ``-``: people pass it on command lines
    (``schedy gen-token --password …``), where it would read as an option.
    """
    while True:
        password = secrets.token_urlsafe(12)
        if not password.startswith("-"):
            return password


def hash_api_token(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_jwt_secret() -> str:
    """A fresh signing secret for session tokens."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Session:
    """Who a valid session token speaks for.

    Attributes:
        user_id: the user.
        token_id: the API token it was obtained with (``None``: a password).
        expires_at: seconds since the epoch.
        key: the user's session key when it was issued; the session is live
            only while the user still has that key (see ``tables.users``).

    """

    user_id: int
    token_id: int | None
    expires_at: float
    key: str = ""


def issue_session(secret: str, user_id: int, token_id: int | None, ttl: int, key: str) -> tuple[str, int]:
    """Sign a session token naming the user's session ``key``; return it and its expiry (seconds since the epoch)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": str(user_id), "iat": now, "exp": now + ttl, "key": key}
    if token_id is not None:
        claims["tid"] = token_id
    return jwt.encode(claims, secret, algorithm="HS256"), now + ttl


#: Ids a session may name: a database's 64-bit signed integers (anything larger cannot be a row's id).
MAX_ID = 2**63 - 1


def _session_id(value: object) -> int:
    """The user or token id a claim names, refusing what no row can have (``ValueError``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("id")
    number = int(value)
    if not -MAX_ID - 1 <= number <= MAX_ID:
        raise ValueError("id out of range")
    return number


def read_session(secret: str, token: str) -> Session:
    """Check a session token's signature and expiry.

    Raises:
        Unauthenticated: forged, malformed or expired, or naming an id
            outside the 64-bit signed range of the database's ids.

    """
    try:
        # Expiry first: an expired session is told so, whatever else it lacks.
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        tid = claims.get("tid")
        if not isinstance(claims.get("key"), str):
            raise TypeError("key")
        user_id, token_id = _session_id(claims["sub"]), None if tid is None else _session_id(tid)
        return Session(user_id, token_id, float(claims["exp"]), claims["key"])
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("Your session token has expired; authenticate again.") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthenticated("Your session token is invalid; authenticate again (API tokens go to token/).") from None
