"""Connections that never finish a request are closed, and the service may hold many connections.

uvicorn closes a keep-alive connection left idle after an answer, but not a
connection that never sends a request, nor one that stops half-way through
its headers: a few hundred of them exhaust the usual 1,024-file limit and
the service refuses everyone. :class:`GuardedHttpTools` gives every request
``header_timeout`` seconds from its first byte (or from the connection's
opening) to its last header; bodies are not timed (artifact uploads may be
slow). :func:`raise_file_limit` lifts the soft limit on open files to the
hard one at start.
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
        """Closes a connection whose request headers do not arrive within ``header_timeout`` seconds."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _expire(self) -> None:
            self._header_deadline = None
            if not self.transport.is_closing():
                logger.debug("Closing %s: no complete request within %g s.", self.client, header_timeout)
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpTools
