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
import os

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
    """Uvicorn's httptools protocol with deadlines for each request (``"auto"`` without httptools).

    The timeout travels in the environment, so the processes of ``--workers N`` use it too.
    """
    try:
        from schedy.server._guarded_http import TIMEOUT_VARIABLE, GuardedHttpTools
    except ImportError:  # httptools missing: uvicorn's h11 protocol, unguarded
        return "auto"
    os.environ[TIMEOUT_VARIABLE] = repr(float(header_timeout))
    return GuardedHttpTools
