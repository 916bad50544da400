"""``schedy._http.read_response``: the transport's answer reader, byte for byte against what a server may send.

Each answer is written by a real socket peer; the reader must return what
:class:`http.client.HTTPResponse` would, and fail with the same exception
classes (the transport's retry rules depend on them).
"""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from schedy._http import Headers, read_response


def _answer(raw: bytes, method: str = "GET", *, then_close: bool = True) -> tuple[int, Headers, bytes, bool]:
    ours, theirs = socket.socketpair()
    try:
        writer = threading.Thread(target=lambda: (theirs.sendall(raw), then_close and theirs.shutdown(socket.SHUT_WR)))
        writer.start()
        try:
            return read_response(ours, method)
        finally:
            writer.join()
    finally:
        ours.close()
        theirs.close()


def test_a_json_answer_with_content_length_and_headers_in_any_case() -> None:
    body = b'{"id": "a"}'
    raw = (
        b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nETag: "1f-3"\r\n'
        b"content-length: %d\r\nX-Thing: a\r\nx-thing: b\r\n\r\n%s" % (len(body), body)
    )
    status, headers, data, close = _answer(raw, then_close=False)
    assert (status, data, close) == (200, body, False)  # keep-alive: the connection is reused
    assert headers.get("etag") == headers.get("ETag") == headers["Etag"] == '"1f-3"'
    assert headers.get("x-thing") == "a, b"
    assert headers.get("Retry-After") is None
    assert "Content-Type" in headers


def test_only_what_content_length_says_is_read() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT"
    assert _answer(raw)[2] == b"ok"


@pytest.mark.parametrize(
    ("raw", "body", "close"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", False),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nT: x\r\n\r\n",
            b"Wikipedia",
            False,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", b"until the end", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", b"x", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", b"x", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", b"x", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", b"{}", False),
    ],
    ids=["no-content", "chunked", "until-close", "connection-close", "http-1.0", "http-1.0-keep-alive", "continue"],
)
def test_bodies_and_whether_the_connection_stays_open(raw: bytes, body: bytes, close: bool) -> None:
    status, _, data, must_close = _answer(raw)
    assert (data, must_close) == (body, close)
    assert 200 <= status < 300


def test_a_head_answer_has_no_body_whatever_its_length() -> None:
    assert _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD")[2] == b""


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.IncompleteRead),
        (b"SSH-2.0-OpenSSH_9.2\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 abc\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
    ],
    ids=[
        "nothing",
        "short-body",
        "short-chunk",
        "bad-chunk-size",
        "not-http",
        "bad-status",
        "negative-length",
        "too-many-headers",
        "long-line",
    ],
)
def test_broken_answers_raise_what_http_client_raises(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _answer(raw)
    assert issubclass(error, http.client.HTTPException)  # what the transport counts as "maybe sent"
