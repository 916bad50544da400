"""Request bodies and paths as every entry point reads them: the framework's middleware and the fast path.

The worker loop's two requests are answered by :class:`~schedy.server.api.hotpath.HotPaths`
without the framework; everything else passes :class:`~schedy.server.api.middleware.BodyLimit`
and :class:`~schedy.server.api.middleware.RawPathRouting`. Both sides read a
request with the functions below, so a rule (what a ``Content-Length`` means,
when a body is too large, which path is routed) cannot differ between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import Message, Receive, Scope, Send

from schedy.server.errors import PayloadTooLarge

__all__ = [
    "SECURITY_HEADERS",
    "declared_length",
    "limited_receive",
    "read_body",
    "routing_path",
    "secured",
    "too_large",
    "too_large_detail",
]

#: Headers on every answer, the fast path's included: browsers must not guess a content type
#: (an answer holding a user's text is never run as a script), and links followed from the
#: dashboard do not carry its URLs (experiment names) to other sites.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def secured(send: Send) -> Send:
    """``send`` that adds :data:`SECURITY_HEADERS` to the start of the answer (those it does not set itself)."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0] not in present]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


def routing_path(scope: Scope) -> str:
    """The path to route on: the raw, still percent-encoded one when it has escapes.

    Names are percent-encoded with no safe characters (``a/b c`` is
    ``a%2Fb%20c``); routing on the decoded path would split a name holding
    ``/`` into two segments. Routes decode each name themselves.
    """
    raw = scope.get("raw_path")
    if raw and b"%" in raw:
        return str(raw.decode("latin-1"))
    return str(scope["path"])


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The first ``Content-Length`` as a number, or ``None`` when absent or not a plain decimal number.

    A malformed value is not trusted either way: the body is then counted as it arrives.
    """
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


#: ``…/experiments/NAME/``: an experiment's definition (a root path before it is allowed).
_DEFINITION = re.compile(r"/experiments/[^/]+/$")
#: ``…/experiments/NAME/…``: a job, its results or reports, a note: data a job may keep in artifacts instead.
_JOB_DATA = re.compile(r"/experiments/[^/]+/.+")


def too_large_detail(max_bytes: int, path: str | None = None) -> str:
    """The sentence refusing a body over the limit, with a hint that fits the request's ``path`` (routed form).

    Example:
        >>> "job.save_artifact" in too_large_detail(10, "/experiments/grid/")
        False
        >>> too_large_detail(10, "/experiments/grid/jobs/1/").endswith("(job.save_artifact).")
        True

    """
    said = f"The request body is over the service's limit of {max_bytes} bytes"
    if path is not None and _DEFINITION.search(path):
        return (
            f"{said}: an experiment's definition must fit in it; give a long range of values as a distribution "
            "(Integer, or Uniform with a step), sent as its bounds, not as a list."
        )
    if path is None or _JOB_DATA.search(path):
        return f"{said}; keep big data in files stored with the job (job.save_artifact)."
    return f"{said}."


def too_large(max_bytes: int, path: str | None = None) -> PayloadTooLarge:
    """The one error for a body over the limit (answered 413), its hint fitting the request's ``path``."""
    return PayloadTooLarge(too_large_detail(max_bytes, path))


def limited_receive(receive: Receive, max_bytes: int, path: str | None = None) -> Receive:
    """``receive`` that raises :func:`too_large` once more than ``max_bytes`` of body have arrived."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise too_large(max_bytes, path)
        return message

    return limited


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole body, refused early by its declared length and while it arrives past ``max_bytes``.

    A client that goes away mid-body leaves what was read.
    """
    path = routing_path(scope)
    declared = declared_length(scope.get("headers", ()))
    if declared is not None and declared > max_bytes:
        raise too_large(max_bytes, path)
    receive = limited_receive(receive, max_bytes, path)
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
