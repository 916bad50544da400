"""Reading one HTTP/1.1 answer from a socket: what :class:`http.client.HTTPResponse` does, for a fifth of the CPU.

Every request of a worker loop reads an answer of a few hundred bytes.
:class:`http.client.HTTPResponse` parses its headers with the :mod:`email`
package (a feed parser, a policy, a message object): about 28 µs per answer
on the machines of docs/benchmarks.md, two per job cycle, more than the rest
of the client's work on an answer. :func:`read_response` reads the status
line and the headers with ``readline`` and a ``partition`` each, then the
body by ``Content-Length``, chunked transfer coding, or up to the end of
the connection, and raises the same :mod:`http.client` exceptions as
``HTTPResponse`` in the same situations (no answer at all:
:class:`http.client.RemoteDisconnected`; a body cut short:
:class:`http.client.IncompleteRead`), so the transport's retry rules see
no difference.
"""

from __future__ import annotations

import http.client
import socket
from typing import BinaryIO

__all__ = ["Headers", "read_response"]

#: The longest status or header line accepted (as :mod:`http.client`).
MAX_LINE = 65536
#: The most header lines accepted (as :mod:`http.client`).
MAX_HEADERS = 100


class Headers:
    """An answer's headers, looked up by name in any case; repeated names are joined with ``", "``."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = {} if values is None else {name.lower(): value for name, value in values.items()}

    def get(self, name: str, default: str | None = None, /) -> str | None:
        """The value of the header ``name``, or ``default``."""
        return self._values.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __repr__(self) -> str:
        return f"Headers({self._values!r})"


def _line(fp: BinaryIO, what: str) -> bytes:
    line = fp.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong(what)
    return line


def _status(fp: BinaryIO) -> tuple[str, int]:
    """The status line's version and status."""
    line = _line(fp, "status line")
    if not line:
        # As http.client says it: the server closed the connection without answering.
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    version, _, rest = line.decode("latin-1").partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit() or not 100 <= int(code) <= 999:
        raise http.client.BadStatusLine(line.decode("latin-1", errors="replace").rstrip("\r\n"))
    return version, int(code)


def _headers(fp: BinaryIO) -> dict[str, str]:
    values: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(fp, "header line")
        if line in (b"\r\n", b"\n", b""):
            return values
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            continue  # not a header (http.client keeps such lines out of the message too)
        key, value = name.strip().lower(), value.strip()
        values[key] = f"{values[key]}, {value}" if key in values else value
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


def _exactly(fp: BinaryIO, size: int) -> bytes:
    data = fp.read(size)
    if len(data) < size:
        raise http.client.IncompleteRead(data, size - len(data))
    return data


def _chunked(fp: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        line = _line(fp, "chunk size")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(parts)) from None
        if size == 0:
            while _line(fp, "trailer line") not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(_exactly(fp, size))
        _exactly(fp, 2)  # the CRLF after each chunk


def read_response(sock: socket.socket, method: str) -> tuple[int, Headers, bytes, bool]:
    """Read one answer to ``method``: ``(status, headers, body, whether the connection must be closed)``.

    Interim answers (``100 Continue``) are skipped. The socket is read through a buffered reader that
    is dropped afterwards, as :class:`http.client.HTTPResponse` does: nothing follows an answer on a
    keep-alive connection before the next request is sent.
    """
    fp = sock.makefile("rb")
    try:
        while True:
            version, status = _status(fp)
            values = _headers(fp)
            if status >= 200 or status == 101:
                break
        tokens = {token.strip().lower() for token in values.get("connection", "").split(",")}
        close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in values.get("transfer-encoding", "").lower():
            body = _chunked(fp)
        elif "content-length" in values:
            try:
                length = int(values["content-length"])
            except ValueError:
                raise http.client.HTTPException(f"bad Content-Length {values['content-length']!r}") from None
            if length < 0:
                raise http.client.HTTPException(f"bad Content-Length {length}")
            body = _exactly(fp, length)
        else:  # the body ends with the connection
            body = fp.read()
            close = True
        return status, Headers(values), body, close
    finally:
        fp.close()
