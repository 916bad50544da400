"""ASGI middleware: routing on the raw path, and the body size limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedy.server.api.problems import problem
from schedy.server.errors import PayloadTooLarge


class RawPathRouting:
    """Route on the still-encoded path so that ``%2F`` never splits a segment.

    API.md percent-encodes names with no safe characters: an experiment
    ``a/b c`` is ``experiments/a%2Fb%20c/``. Servers decode the path before
    routing, which would turn that into two segments. This middleware puts
    the raw path back for routing; routes decode each name themselves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            if raw and b"%" in raw:
                scope = dict(scope)
                scope["path"] = raw.decode("latin-1")
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
        too_large = problem(
            413, "Payload too large", f"The request body is over the service's limit of {self.max_bytes} bytes."
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            # Raised inside the route that reads the body, so the app's own
            # error handler answers 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(f"The request body is over the service's limit of {self.max_bytes} bytes.")
            return message

        await self.app(scope, limited_receive, send)
