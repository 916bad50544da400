"""Whether this service has begun its graceful shutdown.

Stopping (SIGTERM from systemd or a deploy, Ctrl-C), uvicorn stops accepting
connections and gives the requests in flight a few seconds before it cancels
them, and a cancelled request is answered 500. The one request that waits
that long on purpose is a long-polling ``nextjob``: it asks :func:`draining`
between its polls and, once the shutdown has begun, answers 503 with
``Retry-After``, so that the worker waits for the service to come back (as
after a crash) instead of ending its loop. The HTTP protocol
(:class:`schedy.server._guarded_http.GuardedHttpTools`) calls :func:`begin`
when uvicorn tells its connections to shut down.

The mark is the event loop's: a server started again in the same process
runs on a new loop and starts afresh.
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["begin", "draining"]

_stopping: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def begin() -> None:
    """Record that the server of the running event loop is shutting down (idempotent)."""
    _stopping.add(asyncio.get_running_loop())


def draining() -> bool:
    """Whether the server of the running event loop has begun shutting down: a long poll should end now."""
    try:
        return asyncio.get_running_loop() in _stopping
    except RuntimeError:  # no loop running: no server
        return False
