"""Logging in (API token or password → session token) and checking sessions."""

from __future__ import annotations

import threading
import time

from schedy.server import security
from schedy.server.errors import Forbidden, Unauthenticated
from schedy.server.security import Session
from schedy.server.store import Store, users

# How long a check that a session's user and API token are still live is
# trusted; a revoked token stops working within this many seconds on every
# service process.
LIVENESS_TTL = 5.0


class Auth:
    """Issues and checks session tokens for one service process."""

    def __init__(self, store: Store, secret: str, ttl: int) -> None:
        self._store = store
        self._secret = secret
        self._ttl = ttl
        self._live_until: dict[tuple[int, int | None], float] = {}
        self._lock = threading.Lock()

    def login_with_token(self, email: str, api_token: str) -> tuple[str, int]:
        """Exchange an API token for a session token and its expiry.

        Raises:
            Forbidden: unknown email, unknown or revoked token.

        """
        with self._store.read() as conn:
            owner = users.token_owner(conn, security.hash_api_token(api_token))
        if owner is None or owner.email != users.normalise_email(email):
            raise Forbidden("Wrong email or API token.")
        return security.issue_session(self._secret, owner.user_id, owner.token_id, self._ttl)

    def login_with_password(self, email: str, password: str) -> tuple[str, int]:
        """Exchange a password for a session token and its expiry.

        Raises:
            Forbidden: unknown email or wrong password.

        """
        with self._store.read() as conn:
            user = users.by_email(conn, email)
        if not security.verify_password(user.password_hash if user else None, password) or user is None:
            raise Forbidden("Wrong email or password.")
        return security.issue_session(self._secret, user.id, None, self._ttl)

    def new_api_token(self, user_id: int, label: str | None = None) -> tuple[str, str]:
        """Create an API token for the user; return ``(email, token)``."""
        token = security.new_api_token()
        with self._store.write() as conn:
            user = users.by_id(conn, user_id)
            if user is None:
                raise Unauthenticated("Your account no longer exists.")
            users.add_token(conn, user_id, security.hash_api_token(token), label)
        return user.email, token

    def session(self, authorization: str | None) -> tuple[Session, bool]:
        """Read the ``Authorization`` header; the flag says whether liveness must be checked.

        Raises:
            Unauthenticated: missing, not Bearer, forged or expired.

        """
        if not authorization:
            raise Unauthenticated("This request needs 'Authorization: Bearer <session token>'; get one from token/.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <session token>'.")
        session = security.read_session(self._secret, token.strip())
        until = self._live_until.get((session.user_id, session.token_id), 0.0)
        return session, until < time.monotonic()

    def check_live(self, session: Session) -> None:
        """Check in the database that the user and its API token still exist.

        Raises:
            Unauthenticated: the user was removed or the API token revoked.

        """
        with self._store.read() as conn:
            alive = users.by_id(conn, session.user_id) is not None and (
                session.token_id is None or users.token_is_live(conn, session.token_id, session.user_id)
            )
        if not alive:
            raise Unauthenticated("The API token of this session was revoked; authenticate again.")
        with self._lock:
            if len(self._live_until) > 10_000:
                self._live_until.clear()
            self._live_until[(session.user_id, session.token_id)] = time.monotonic() + LIVENESS_TTL
