"""The dashboard's browser session: a cookie, and the CSRF check that goes with it.

Logging in to the dashboard sets two cookies:

* ``schedy_session``: the session token (the same JWT ``passauth/``
  answers), ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict``
  (browsers do not send it on requests started by another site) and
  ``Secure`` when the service is reached over HTTPS.
* ``schedy_csrf``: a CSRF token derived from the session token (a hash of
  it), readable by the dashboard's scripts.

A request with an ``Authorization`` header is authenticated by that header
alone, exactly as before. A request without one may be authenticated by the
session cookie; if it changes state (any method but GET, HEAD, OPTIONS,
and the 0.1.0b6 protocol's ``GET nextjob``, which claims a job) it must
also carry ``X-Schedy-CSRF`` equal to the CSRF token of *that*
session. Another site can make a browser send the cookie (with SameSite
support missing or bypassed) but can neither read the CSRF cookie nor set a
custom header on a cross-origin request without a CORS preflight, which
the service never grants; and since the token is bound to the session, a
cookie planted by a sibling subdomain does not help either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from schedy.server.errors import Forbidden

SESSION_COOKIE = "schedy_session"
CSRF_COOKIE = "schedy_csrf"
CSRF_HEADER = "x-schedy-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session token.

    Knowing it requires knowing the session token, which lives in an
    HttpOnly cookie, so it is as secret as the session itself.
    """
    digest = hashlib.sha256(b"schedy-dashboard-csrf\0" + session_token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def cookie_authorization(request: Request, *, changes_state: bool | None = None) -> str | None:
    """An ``Authorization`` value built from the session cookie; ``None`` when there is no cookie.

    ``changes_state`` says whether the request changes data; by default, whether its method is not
    GET, HEAD or OPTIONS (the 0.1.0b6 protocol's ``GET nextjob`` claims a job: its route says so).

    Raises:
        Forbidden: the request changes state and lacks the session's CSRF token.

    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if changes_state is None:
        changes_state = request.method not in SAFE_METHODS
    if changes_state:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(token).encode("ascii")):
            raise Forbidden(
                f"This request changes data with a dashboard session: it needs the {CSRF_HEADER} header "
                f"(the value of the {CSRF_COOKIE} cookie); reload the dashboard."
            )
    return f"Bearer {token}"


def _secure(request: Request, public_url: str | None) -> bool:
    return request.url.scheme == "https" or (public_url or "").startswith("https:")


def set_session(response: Response, request: Request, token: str, max_age: int, public_url: str | None) -> str:
    """Set both cookies of a fresh session on ``response``; return the CSRF token."""
    secure = _secure(request, public_url)
    csrf = csrf_token(token)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, samesite="strict", secure=secure)
    return csrf


def clear_session(response: Response, request: Request, public_url: str | None) -> None:
    """Make the browser forget both cookies."""
    secure = _secure(request, public_url)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=False, samesite="strict", secure=secure)
