"""What routes share: the services of this process, the caller, path names."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from anyio import CapacityLimiter, to_thread
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schedy.server.dashboard.cookies import cookie_authorization
from schedy.server.errors import BadRequest, Unauthenticated
from schedy.server.security import Session
from schedy.server.service.artifacts import Artifacts
from schedy.server.service.auth import LIVENESS_TTL, Auth
from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.service.reports import Reports
from schedy.server.settings import Settings
from schedy.server.store import Store
from schedy.server.wire import check_name

# Declared for the OpenAPI document; the header is read by current_user.
bearer_scheme = HTTPBearer(auto_error=False, description="A session token from token/ or passauth/.")


class Sessions:
    """Session tokens this process has verified, so a worker's token is checked once, not on every request.

    Verifying a JWT's signature costs more than a claim on SQLite. A token
    seen before is trusted until it expires; that its user and API token
    still exist is checked again every ``LIVENESS_TTL`` seconds, as
    :class:`~schedy.server.service.auth.Auth` does, so a revoked token still
    stops working within that time.
    """

    #: Forget every token past this many (a bound, not an LRU: workers re-verify once).
    MAX = 10_000
    #: Liveness checks running at once (one read by primary key each).
    THREADS = 8

    def __init__(self) -> None:
        # Authorization header → (session, monotonic time its liveness must be checked again).
        self._known: dict[str, tuple[Session, float]] = {}
        # Threads of their own: every authenticated request may need a check, so a thread pool full of
        # long requests (claims waiting for their experiment's turn, say) must not hold them up.
        self._threads = CapacityLimiter(self.THREADS)

    async def user_id(self, auth: Auth, authorization: str | None) -> int:
        """The user ``authorization`` (``Bearer <token>``) speaks for.

        Raises:
            Unauthenticated: missing, malformed, forged, expired, or revoked.

        """
        return (await self.session(auth, authorization)).user_id

    async def session(self, auth: Auth, authorization: str | None, *, fresh: bool = False) -> Session:
        """The session ``authorization`` (``Bearer <token>``) carries, found live within ``LIVENESS_TTL`` seconds.

        Only that recently, unless ``fresh``: then its liveness is read from
        the database now (one more read; never on the worker loop's requests).
        Whatever makes a credential must check it again in the transaction
        that makes it (as :meth:`Auth.new_api_token` does).

        Raises:
            Unauthenticated: missing, malformed, forged, expired, or revoked.

        """
        known = self._known.get(authorization) if authorization else None
        now = time.monotonic()
        if known is not None and known[0].expires_at > time.time():
            session, recheck_at = known
            if now < recheck_at and not fresh:
                return session
        else:
            session, check = auth.session(authorization)
            if not check and not fresh:
                # Checked recently by another route: trust it, but check ourselves next time.
                self._remember(authorization, session, now)
                return session
        try:
            await to_thread.run_sync(auth.check_live, session, limiter=self._threads)
        except Unauthenticated:
            if authorization:
                self._known.pop(authorization, None)  # ended: no later request is let through by the cache
            raise
        self._remember(authorization, session, time.monotonic() + LIVENESS_TTL)
        return session

    def _remember(self, authorization: str | None, session: Session, recheck_at: float) -> None:
        if authorization:
            if len(self._known) >= self.MAX:
                self._known.clear()
            self._known[authorization] = (session, recheck_at)


class Logins:
    """The threads logins run in: their own, so that nothing else running fills them, and few.

    A password check (Argon2id) takes tens of milliseconds and 64 MiB; a
    flood of logins then waits here rather than exhausting memory or the
    thread pool every other request needs, and a login waits for no claim,
    list or write of other users.
    """

    #: Logins checked at once in one service process.
    THREADS = 4

    def __init__(self) -> None:
        self.threads = CapacityLimiter(self.THREADS)


@dataclass(frozen=True)
class Services:
    """The use cases of one service process, built once by ``create_app``."""

    settings: Settings
    store: Store
    auth: Auth
    experiments: Experiments
    jobs: Jobs
    claims: Claims
    reports: Reports
    artifacts: Artifacts
    sessions: Sessions = field(default_factory=Sessions)
    logins: Logins = field(default_factory=Logins)


def services(request: Request) -> Services:
    """The services of the app handling ``request``."""
    svc: Services = request.app.state.services
    return svc


async def current_user(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> int:
    """The id of the user whose session token the request carries (401 otherwise).

    The token comes from the ``Authorization`` header; without one, from the
    dashboard's session cookie, which needs a CSRF token on requests that
    change state (403 without it; see :mod:`schedy.server.dashboard.cookies`).
    """
    return await _user(request, changes_state=None)


async def current_user_changing(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> int:
    """As :func:`current_user`, for a ``GET`` that changes data (``nextjob``): a cookie needs the CSRF token.

    Without it, a page of another site on the same host (another port is the same site, so
    ``SameSite=Strict`` lets the cookie through) could claim jobs with an ``<img src=…>``.
    """
    return await _user(request, changes_state=True)


async def current_session(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> Session:
    """As :func:`current_user`, the whole session: for routes that make credentials, which check it again."""
    return await _session(request, changes_state=None)


async def current_user_fresh(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> int:
    """As :func:`current_user`, its session checked in the database now rather than by the liveness cache.

    For requests that create what a user owns at the top level (an experiment): one made by a removed
    user's session in the seconds the cache still trusts it would outlive the removal, which deletes the
    experiments that exist when it runs (jobs, reports and artifacts all live in an experiment). Rare
    requests: the worker loop's claims and updates keep the cache.
    """
    return (await _session(request, changes_state=None, fresh=True)).user_id


async def _user(request: Request, *, changes_state: bool | None) -> int:
    return (await _session(request, changes_state=changes_state)).user_id


async def _session(request: Request, *, changes_state: bool | None, fresh: bool = False) -> Session:
    svc = services(request)
    authorization = request.headers.get("authorization")
    if authorization is None:
        authorization = cookie_authorization(request, changes_state=changes_state)
    return await svc.sessions.session(svc.auth, authorization, fresh=fresh)


def path_name(raw: str, what: str) -> str:
    """Decode one percent-encoded path segment into a name."""
    try:
        name = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"The {what} name in the path is not percent-encoded UTF-8.") from None
    return check_name(name, what)


def client_address(request: Request) -> str:
    """The caller's address, which login throttling counts failures by.

    Behind a proxy on this host, uvicorn takes it from ``X-Forwarded-For``
    (it trusts that header from 127.0.0.1 only).
    """
    return request.client.host if request.client else ""
