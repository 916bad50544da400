"""The guarded httptools protocol of :mod:`schedy.server.connections` (imported only where httptools is)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schedy.server import draining

__all__ = ["BODY_HIGH_WATER", "DEFAULT_HEADER_TIMEOUT", "TIMEOUT_VARIABLE", "GuardedHttpTools"]

logger = logging.getLogger("schedy.server.connections")

#: Seconds a client has to send a request's headers, from connecting or from the request's first byte.
DEFAULT_HEADER_TIMEOUT = 10.0
#: The environment variable that carries ``--header-timeout`` to every service process.
TIMEOUT_VARIABLE = "SCHEDY_HEADER_TIMEOUT"
#: Bytes of a request body held for the app before the connection stops reading (uvicorn's: 64 KiB).
BODY_HIGH_WATER = 1 << 20


class GuardedHttpTools(HttpToolsProtocol):
    """Closes a connection whose request headers take, or whose body pauses, the header timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # From the environment: a class, not a closure, so that uvicorn can hand it to the
        # processes of --workers N (they import it by name and inherit the environment).
        self._timeout = float(os.environ.get(TIMEOUT_VARIABLE, DEFAULT_HEADER_TIMEOUT))
        self._deadline: asyncio.TimerHandle | None = None
        self._in_body = False  # headers parsed, body still coming

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self._timeout, self._expire)

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
        logger.debug("Closing %s: no complete request within %g s.", self.client, self._timeout)
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

    def on_body(self, body: bytes) -> None:
        """As uvicorn's, with a mark of :data:`BODY_HIGH_WATER`: an artifact arrives in MiB, not 256 KiB, messages.

        Each message costs a round of the event loop and of the app's receive; at uvicorn's 64 KiB mark the
        reads pause after every 256 KiB socket read. A small body (a job, a report) is one message either way.
        """
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.body += body
        if len(cycle.body) > BODY_HIGH_WATER:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """As uvicorn's, and tell the app the process is shutting down (a long poll then ends at once)."""
        draining.begin()
        super().shutdown()
