"""ASGI middleware: routing on the raw path, the body size limit, security headers, the database's troubles."""

from __future__ import annotations

import logging
import time

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from schedy.server.api.bodies import declared_length, limited_receive, routing_path, secured, too_large_detail
from schedy.server.api.problems import problem
from schedy.server.store.failures import (
    connection_lost,
    file_lost,
    lost_reason,
    out_of_space,
    read_only,
    unreachable,
)

__all__ = ["BodyLimit", "DatabaseTrouble", "RawPathRouting", "SecurityHeaders", "trouble_answer"]

logger = logging.getLogger("schedy.server")

#: Seconds a client is told to wait before trying again when the database's disk is full.
FULL_RETRY_AFTER = 30
#: Seconds a client is told to wait before trying again when the database cannot be reached.
UNREACHABLE_RETRY_AFTER = 2
#: Each kind of database trouble is logged at most once per this many seconds (the log may share its disk).
TROUBLE_LOG_EVERY = 60.0


class RawPathRouting:
    """Route on the still-encoded path so that ``%2F`` never splits a segment.

    The protocol (docs/protocol.md) percent-encodes names with no safe characters: an experiment
    ``a/b c`` is ``experiments/a%2Fb%20c/``. Servers decode the path before
    routing, which would turn that into two segments. This middleware puts
    the raw path back for routing; routes decode each name themselves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = routing_path(scope)
            if path != scope["path"]:
                scope = dict(scope)
                scope["path"] = path
        await self.app(scope, receive, send)


def _is_upload(scope: Scope) -> bool:
    """``PUT experiments/NAME/jobs/ID/artifacts/ARTIFACT/``: streamed, with limits of its own."""
    if scope.get("method") != "PUT":
        return False
    parts = scope["path"].split("/")
    return len(parts) == 8 and parts[1] == "experiments" and parts[3] == "jobs" and parts[5] == "artifacts"


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before reading them whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_upload(scope):
            await self.app(scope, receive, send)
            return
        path = routing_path(scope)  # the hint fits the request: an experiment's definition is no job's data
        declared = declared_length(scope.get("headers", ()))
        if declared is not None and declared > self.max_bytes:
            detail = too_large_detail(self.max_bytes, path)
            await problem(413, "Payload too large", detail)(scope, receive, send)
            return
        # Past the declared length, a body that keeps coming raises inside the
        # route that reads it, so the app's own error handler answers 413.
        await self.app(scope, limited_receive(receive, self.max_bytes, path), send)


class SecurityHeaders:
    """Add :data:`~schedy.server.api.bodies.SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, secured(send) if scope["type"] == "http" else send)


class DatabaseTrouble:
    """Answer the database's own troubles with what to do, instead of an internal error.

    :mod:`schedy.server.store.failures` tells them apart:

    * its disk is full, or it is read-only for the service: 503 with ``Retry-After: 30``; the
      transaction was rolled back, nothing written;
    * its SQLite file was deleted or replaced under the service: 503 with ``Retry-After: 30`` until a
      restart, nothing done (:mod:`schedy.server.store.sqlite_file`);
    * it cannot be reached (down, restarting, refusing connections): 503 with ``Retry-After: 2``;
      nothing was done;
    * the connection broke during the request: 502; it may or may not have been applied.

    The client sends a request again after a 503, and after a 502 only if it is safe to repeat
    (updates with their ETag, claims with a lease, reads), so a database restart of a few seconds
    costs workers a pause, not their results. One warning of each kind is logged per
    :data:`TROUBLE_LOG_EVERY` seconds instead of a traceback per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            answer = trouble_answer(exc)
            if answer is None:
                raise
            try:
                await answer(scope, receive, send)
            except Exception:  # the answer had begun (a streamed one): too late for another, the connection is cut
                raise exc from None


#: When each kind of database trouble was last logged in this process (monotonic seconds).
_LOGGED_AT: dict[str, float] = {}


def trouble_answer(exc: BaseException) -> Response | None:
    """The answer to a database trouble (see :class:`DatabaseTrouble`), or ``None`` for any other failure.

    Logs each kind at most once per :data:`TROUBLE_LOG_EVERY` seconds in this process, whoever met it
    (this middleware, the fast path, the background sweeps).
    """
    lost = file_lost(exc)
    if lost is not None:
        kind, status, retry = "file lost", 503, FULL_RETRY_AFTER
        detail = (
            "The service's database file was deleted or replaced while the service ran, so nothing of this request "
            "was done; ask the service's administrator to restart the service (its log says what to keep)."
        )
        said = str(lost)
    elif out_of_space(exc):
        kind, status, retry = "full", 503, FULL_RETRY_AFTER
        detail = (
            "The service's database has no room left on its disk, so nothing of this request was written; "
            f"free space on the service's machine and send it again (retry after {FULL_RETRY_AFTER} s)."
        )
        said = "The database's disk is full: requests that write are answered 503 until there is room."
    elif read_only(exc):
        kind, status, retry = "read-only", 503, FULL_RETRY_AFTER
        detail = (
            "The service's database is read-only for the service (a file or disk it may not write, or a standby "
            "server), so nothing of this request was written; ask the service's administrator to make it "
            f"writable, then send it again (retry after {FULL_RETRY_AFTER} s)."
        )
        said = f"The database is read-only for this service ({_short(exc)}): requests that write are answered 503."
    elif unreachable(exc):
        kind, status, retry = "unreachable", 503, UNREACHABLE_RETRY_AFTER
        detail = (
            "The service cannot reach its database right now (it may be restarting), so nothing of this "
            f"request was done; send it again in a few seconds (retry after {UNREACHABLE_RETRY_AFTER} s)."
        )
        said = f"The database cannot be reached ({_short(exc)}): requests are answered 503 until it can."
    elif connection_lost(exc):
        kind, status, retry = "lost", 502, None
        detail = (
            "The service lost its connection to its database during this request, so it may or may not have "
            "been applied; look before sending it again unless it is safe to repeat."
        )
        said = f"A connection to the database broke during a request ({lost_reason(exc)}); it was answered 502."
        logger.debug("The driver's words for the broken connection: %s", _short(exc))
    else:
        return None
    now = time.monotonic()
    if now - _LOGGED_AT.get(kind, -TROUBLE_LOG_EVERY) >= TROUBLE_LOG_EVERY:
        _LOGGED_AT[kind] = now
        logger.log(logging.ERROR if kind == "file lost" else logging.WARNING, said)
    title = "Service unavailable" if status == 503 else "Bad gateway"
    return problem(status, title, detail, None if retry is None else {"Retry-After": str(retry)})


def _short(exc: BaseException) -> str:
    """The innermost error's message (SQLAlchemy's ``orig``, then causes), on one line and short, for the log."""
    inner = exc
    for _ in range(10):
        wrapped = getattr(inner, "orig", None) or inner.__cause__
        if not isinstance(wrapped, BaseException):
            break
        inner = wrapped
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text if len(text) <= 160 else text[:157] + "…"
