"""Connections that never finish a request are closed, and the service may hold many connections.

uvicorn closes a keep-alive connection left idle after an answer, but not a
connection that never sends a request, nor one that stops half-way through
its headers or its body: a few hundred of them exhaust the usual 1,024-file
limit and the service refuses everyone. :class:`GuardedHttpTools` gives every
request ``header_timeout`` seconds from its first byte (or from the
connection's opening) to its last header, and then closes it if its body
stops arriving for that long (a body is not timed as a whole: artifact
uploads may be slow, as long as they keep coming). :func:`raise_file_limit`
lifts the soft limit on open files to the hard one at start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["DEFAULT_HEADER_TIMEOUT", "guarded_protocol", "raise_file_limit"]

logger = logging.getLogger(__name__)

#: Seconds a client has to send a request's headers, from connecting or from the request's first byte.
DEFAULT_HEADER_TIMEOUT = 10.0


def raise_file_limit() -> tuple[int, int] | None:
    """Raise the soft limit on open files to the hard limit; the ``(soft, hard)`` now in force, if known."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, hard
    return hard, hard


def guarded_protocol(header_timeout: float) -> type[asyncio.Protocol] | str:
    """Uvicorn's httptools protocol with a deadline for each request's headers (``"auto"`` without httptools)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 protocol, unguarded
        return "auto"

    class GuardedHttpTools(HttpToolsProtocol):
        """Closes a connection whose request headers take, or whose body pauses, ``header_timeout`` seconds."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._in_body = False  # headers parsed, body still coming

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = getattr(self, "cycle", None)
            if self._in_body and (self.flow.read_paused or getattr(cycle, "waiting_for_100_continue", False)):
                self._arm()  # the client waits for the app (it reads the body later), not the other way round
                return
            logger.debug("Closing %s: no complete request within %g s.", self.client, header_timeout)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._in_body:  # a body's deadline counts from its last bytes
                self._disarm()
                self._arm()
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            self._in_body = True
            self._arm()

        def on_message_complete(self) -> None:
            self._in_body = False
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpTools
