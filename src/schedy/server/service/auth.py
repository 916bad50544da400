"""Logging in (API token or password → session token) and checking sessions.

Logins are throttled against guessing, with two counts of failures:

* **per email and client address**: after ``max_failures`` failed logins
  (tokens and passwords alike) within ``window`` seconds, every login for
  that pair (right or wrong) is refused with 429 until ``lockout`` seconds
  have passed since the last failure; then one more try is allowed, and so
  on until the window is over;
* **per email, whatever the address**: the same after
  ``account_max_failures`` failed *password* logins within
  ``account_window`` seconds, for password logins only. Addresses are cheap
  (many hosts; ``X-Forwarded-For`` on loopback), so without it rotating
  them gave unlimited guesses. API-token logins are neither counted nor
  refused by it: a token cannot be guessed (192 bits), and a flood of
  password guesses must not lock an account's workers out.

A password login reserves its attempt before the password is checked (one
write: it counts as a failure unless the count is over a limit, then it is
refused; a correct login takes its reservation back), so parallel guesses
are counted as they come and never more than the limit are checked. An
API-token login is checked first (a lookup, no hashing) and a wrong one is
counted the same atomic way, answered 429 instead of 403 past the limit.
Failures are counted in the database, so all service processes share
them.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection

from schedy.server import security
from schedy.server.errors import Forbidden, TooManyRequests, Unauthenticated, session_ended
from schedy.server.security import Session
from schedy.server.store import Store, login_failures, users

# How long a check that a session's user and API token are still live is
# trusted; a revoked token stops working within this many seconds on every
# service process.
LIVENESS_TTL = 5.0


@dataclass(frozen=True)
class Throttle:
    """How many failed logins are tolerated (see the module's docstring).

    Attributes:
        max_failures: failures for one (email, address) within ``window``
            before logins of that pair are refused.
        window: seconds over which failures are counted.
        lockout: seconds after the last failure during which logins are refused.
        account_max_failures: failed password logins for one email, from any
            address, within ``account_window`` before its password logins are refused.
        account_window: seconds over which an email's password failures are counted.

    """

    max_failures: int = 10
    window: float = 300.0
    lockout: float = 60.0
    account_max_failures: int = 50
    account_window: float = 900.0


def _throttle_key(email: str, client: str) -> str:
    # Hashed: the table then holds neither emails nor addresses in clear.
    return hashlib.sha256(f"{users.normalise_email(email)}\n{client}".encode()).hexdigest()


def _account_key(email: str) -> str:
    # No "\n" before the email: never the key of a pair, whatever the address.
    return hashlib.sha256(f"account\x00{users.normalise_email(email)}".encode()).hexdigest()


class Auth:
    """Issues and checks session tokens for one service process.

    ``client`` arguments are the caller's network address, which login
    throttling counts failures by (with the email).
    """

    def __init__(self, store: Store, secret: str, ttl: int, throttle: Throttle | None = None) -> None:
        self._store = store
        self._secret = secret
        self._ttl = ttl
        self._throttle = throttle or Throttle()
        self._live_until: dict[tuple[int, int | None, str], float] = {}
        self._lock = threading.Lock()

    def login_with_token(self, email: str, api_token: str, client: str = "") -> tuple[str, int]:
        """Exchange an API token for a session token and its expiry.

        A valid token is never refused by the throttle: 192 random bits cannot be guessed, so refusing the
        right one would protect nothing, and would let anyone who can name a worker's address (a local
        process setting ``X-Forwarded-For``) lock that worker's logins out with wrong passwords.

        Raises:
            Forbidden: unknown email, unknown or revoked token (a revoked one is not counted as a failure).
            TooManyRequests: a wrong token, after too many failed logins for this email from ``client``.

        """
        key = _throttle_key(email, client)
        token_hash = security.hash_api_token(api_token)
        with self._store.read() as conn:
            failed_before = login_failures.get(conn, key) is not None
            owner = users.token_owner(conn, token_hash)
            revoked = owner is None and users.revoked_token_email(conn, token_hash) == users.normalise_email(email)
        if revoked:
            # Not a guess (the caller holds a real token): not counted, or the workers still using it would
            # lock their user's live tokens out of this address (heartbeats log in again every few seconds).
            raise Forbidden(
                "This API token was revoked: 'schedy gen-token' logs in with your password and saves a new one."
            )
        if owner is None or owner.email != users.normalise_email(email):
            # Counted after the check (a lookup, no hashing): a correct token is never refused because many
            # workers of one address log in at once. A failure past the limit is answered as refused.
            policy = self._throttle
            with self._store.write() as conn:
                wait = login_failures.reserve(conn, key, policy.max_failures, policy.window, policy.lockout)
                if wait is None:
                    login_failures.prune(conn, self._forget_after)
            if wait is not None:
                raise _pair_refused(wait)
            raise Forbidden(
                "Wrong email or API token, or the token was revoked: "
                "'schedy gen-token' logs in with your password and saves a new one."
            )
        if failed_before:
            self._succeeded(key)
        return security.issue_session(self._secret, owner.user_id, owner.token_id, self._ttl, owner.session_key)

    def login_with_password(self, email: str, password: str, client: str = "") -> tuple[str, int]:
        """Exchange a password for a session token and its expiry.

        Raises:
            Forbidden: unknown email or wrong password.
            TooManyRequests: too many failed logins for this email from ``client``, or
                too many failed password logins for this email from any address.

        """
        key, account = _throttle_key(email, client), _account_key(email)
        policy = self._throttle
        with self._store.write() as conn:
            # Both reserved, or neither (a refusal rolls the transaction back).
            wait = login_failures.reserve(conn, key, policy.max_failures, policy.window, policy.lockout)
            if wait is not None:
                raise _pair_refused(wait)
            wait = login_failures.reserve(
                conn, account, policy.account_max_failures, policy.account_window, policy.lockout
            )
            if wait is not None:
                seconds = max(math.ceil(wait), 1)
                raise TooManyRequests(
                    f"Too many failed logins for this email; its password logins are refused for {seconds} s "
                    "(API tokens still log in).",
                    retry_after=seconds,
                )
            login_failures.prune(conn, self._forget_after)
        with self._store.read() as conn:
            # No stored email holds a NUL, and PostgreSQL refuses one in a query: no such user.
            user = None if "\x00" in email else users.by_email(conn, email)
        if not security.verify_password(user.password_hash if user else None, password) or user is None:
            raise Forbidden("Wrong email or password.")  # the reservations stay, as failures
        if not users.can_log_in(user.email, user.session_key):
            raise Forbidden("Wrong email or password.")  # a removed user's tombstone (no password anyway)
        with self._store.write() as conn:
            login_failures.clear(conn, key)  # a correct login forgives the pair's failures
            login_failures.release(conn, account)  # and takes back its own reservation (the others stay)
        return security.issue_session(self._secret, user.id, None, self._ttl, user.session_key)

    @property
    def _forget_after(self) -> float:
        """Seconds after its last failure a key can no longer matter."""
        policy = self._throttle
        return max(policy.window, policy.account_window) + policy.lockout

    def _succeeded(self, key: str) -> None:
        with self._store.write() as conn:
            login_failures.clear(conn, key)

    def new_api_token(self, session: Session, label: str | None = None) -> tuple[str, str]:
        """Create an API token for the session's user; return ``(email, token)``.

        Whether the session is still live (its user not removed, its session
        key current, the API token it came from not revoked) is checked in the
        database, in the transaction that stores the new token: a credential
        is never made on the strength of the cached check (``LIVENESS_TTL``),
        or a removed user or the thief of a revoked token could mint one that
        outlives the removal or the revocation.

        Raises:
            Unauthenticated: the session has ended.

        """
        token = security.new_api_token()
        with self._store.write() as conn:
            user = users.live_user(conn, session.user_id, session.key, session.token_id, lock=True)
            if user is None:
                raise self._ended(conn, session)
            users.add_token(conn, session.user_id, security.hash_api_token(token), label)
        self._mark_live(session)
        return user.email, token

    @staticmethod
    def _ended(conn: Connection, session: Session) -> Unauthenticated:
        """Why a session :func:`users.live_user` refused has ended."""
        user = users.by_id(conn, session.user_id)
        if user is None or not users.can_log_in(user.email, user.session_key) or user.session_key != session.key:
            return session_ended()
        return Unauthenticated("The API token of this session was revoked; authenticate again.")

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
        until = self._live_until.get((session.user_id, session.token_id, session.key), 0.0)
        return session, until < time.monotonic()

    def check_live(self, session: Session) -> None:
        """Check in the database that the user and its API token still exist.

        Raises:
            Unauthenticated: the user was removed or the API token revoked.

        """
        with self._store.read() as conn:
            if users.live_user(conn, session.user_id, session.key, session.token_id) is None:
                raise self._ended(conn, session)
        self._mark_live(session)

    def _mark_live(self, session: Session) -> None:
        """Remember for ``LIVENESS_TTL`` seconds that ``session`` was found live."""
        with self._lock:
            if len(self._live_until) > 10_000:
                self._live_until.clear()
            self._live_until[(session.user_id, session.token_id, session.key)] = time.monotonic() + LIVENESS_TTL


def _pair_refused(wait: float) -> TooManyRequests:
    seconds = max(math.ceil(wait), 1)
    return TooManyRequests(
        f"Too many failed logins for this email from your address; try again in {seconds} s.", retry_after=seconds
    )
