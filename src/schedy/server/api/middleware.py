"""ASGI middleware: routing on the raw path, the body size limit, security headers, a full database."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from schedy.server.api.bodies import declared_length, limited_receive, routing_path, secured
from schedy.server.api.problems import problem
from schedy.server.store.failures import out_of_space

__all__ = ["BodyLimit", "DatabaseFull", "RawPathRouting", "SecurityHeaders"]

logger = logging.getLogger("schedy.server")

#: Seconds a client is told to wait before trying again when the database's disk is full.
FULL_RETRY_AFTER = 30
#: The log says the database is full at most once per this many seconds (the log may share its disk).
FULL_LOG_EVERY = 60.0


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
        declared = declared_length(scope.get("headers", ()))
        if declared is not None and declared > self.max_bytes:
            detail = (
                f"The request body is over the service's limit of {self.max_bytes} bytes; "
                "keep big data in files stored with the job (job.save_artifact)."
            )
            await problem(413, "Payload too large", detail)(scope, receive, send)
            return
        # Past the declared length, a body that keeps coming raises inside the
        # route that reads it, so the app's own error handler answers 413.
        await self.app(scope, limited_receive(receive, self.max_bytes), send)


class SecurityHeaders:
    """Add :data:`~schedy.server.api.bodies.SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, secured(send) if scope["type"] == "http" else send)


class DatabaseFull:
    """Answer 503 with what to do when the database's disk is full, instead of an internal error.

    The failed statement's transaction was rolled back (:mod:`schedy.server.store.failures`), so
    nothing of the request was written: the client may send it again, and does (a 503 is retried).
    One warning is logged per :data:`FULL_LOG_EVERY` seconds instead of a traceback per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._logged_at = -FULL_LOG_EVERY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if not out_of_space(exc):
                raise
            now = time.monotonic()
            if now - self._logged_at >= FULL_LOG_EVERY:
                self._logged_at = now
                logger.warning("The database's disk is full: requests that write are answered 503 until there is room.")
            detail = (
                "The service's database has no room left on its disk, so nothing of this request was written; "
                f"free space on the service's machine and send it again (retry after {FULL_RETRY_AFTER} s)."
            )
            answer = problem(503, "Service unavailable", detail, {"Retry-After": str(FULL_RETRY_AFTER)})
            try:
                await answer(scope, receive, send)
            except Exception:  # the answer had begun (a streamed one): too late for another, the connection is cut
                raise exc from None
