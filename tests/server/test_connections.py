"""Connections that never finish a request are closed, and never stop the service from answering others.

A real ``schedy server`` process; raw sockets play the clients that connect and say nothing, or stop
half-way through their headers or their body (the way a few hundred of them used to exhaust the file
limit, and then the service refused everyone).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from schedy.testing import ServiceProcess

LOGIN = json.dumps({"email": "nobody@example.com", "token": "not-a-token"}).encode()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""  # the service closed it without an answer
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_silent_and_half_sent_connections_are_closed_and_the_service_keeps_answering(tmp_path: Path) -> None:
    with ServiceProcess.start(tmp_path / "home", extra_args=("--header-timeout", "1.5")) as service:
        silent, partial = [], []
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", service.port))
            if i % 2:
                sock.sendall(b"GET /ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                partial.append(sock)
            else:
                silent.append(sock)
        # Meanwhile, everyone else is answered at once.
        started = time.monotonic()
        assert httpx.get(service.url + "ping/", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
        time.sleep(1.5)
        deadline = time.monotonic() + 10
        for sock in silent + partial:
            assert _closed_within(sock, max(0.1, deadline - time.monotonic())), "a stalled connection stayed open"
            sock.close()
        # A keep-alive client that goes on sending complete requests is not cut off.
        with httpx.Client(base_url=service.url) as client:
            for _ in range(3):
                assert client.get("ping/").status_code == 200
                time.sleep(0.6)


def _login_request(body_length: int) -> bytes:
    return (
        b"POST /token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {body_length}\r\n\r\n".encode()
    )


def _answered(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    return sock.recv(65536)


def test_a_body_that_stops_arriving_is_closed_and_a_slow_steady_one_is_answered(tmp_path: Path) -> None:
    with ServiceProcess.start(tmp_path / "home", extra_args=("--header-timeout", "1.5")) as service:
        stalled = []
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", service.port))
            sock.sendall(_login_request(len(LOGIN)) + LOGIN[:10])  # headers, then a tenth of the body
            stalled.append(sock)
        steady = socket.create_connection(("127.0.0.1", service.port))
        steady.sendall(_login_request(len(LOGIN)))
        for i in range(0, len(LOGIN), len(LOGIN) // 5 + 1):  # the body over ~5 s, a piece every second
            time.sleep(1.0)
            steady.sendall(LOGIN[i : i + len(LOGIN) // 5 + 1])
        answer = _answered(steady, 10)
        assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]  # a whole answer: that login is refused
        steady.close()
        for sock in stalled:
            assert _closed_within(sock, 5), "a connection whose body stopped arriving stayed open"
            sock.close()


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _ping_within(url: str, seconds: float) -> float | None:
    """Seconds until ``/ping/`` answers 200 (new connections, retried), or ``None`` if it never did."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if httpx.get(url + "ping/", timeout=max(0.1, seconds - (time.monotonic() - started))).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:  # refused, reset, or closed without an answer while files ran out
            time.sleep(0.1)
    return None


def test_more_stalled_connections_than_the_file_limit_do_not_stop_the_service(tmp_path: Path) -> None:
    """The issue's attack at a small scale: the service's limit is lowered so that 300 sockets exhaust it."""
    with ServiceProcess.start(tmp_path / "home", extra_args=("--header-timeout", "1.5")) as service:
        pid = service.process.pid
        limit = _open_files(pid) + 100
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        held = []
        try:
            for i in range(300):
                sock = socket.create_connection(("127.0.0.1", service.port))
                if i % 3 == 1:
                    sock.sendall(b"GET /ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                elif i % 3 == 2:
                    sock.sendall(_login_request(len(LOGIN)) + LOGIN[:10])
                held.append(sock)
            waited = _ping_within(service.url, 20)
            assert waited is not None, "the service stopped answering once its files ran out"
            # Later clients are answered too, while the stalled sockets are still held on our side.
            for _ in range(20):
                assert httpx.get(service.url + "ping/", timeout=10).status_code == 200
            assert _open_files(pid) < limit
        finally:
            for sock in held:
                sock.close()


@contextmanager
def _soft_file_limit(soft: int) -> Iterator[None]:
    """Lower this process's soft limit on open files (its children inherit it) for a while."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, old[1]), old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def test_a_lowered_soft_file_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    """A service started with the usual soft limit of 1,024 below a higher hard limit takes the hard one."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with _soft_file_limit(1024):
        service = ServiceProcess.start(tmp_path / "home")
    with service:
        soft_now, hard_now = resource.prlimit(service.process.pid, resource.RLIMIT_NOFILE)
    assert (soft_now, hard_now) == (hard, hard)
