"""Connections that never finish a request are closed, and never stop the service from answering others.

A real ``schedy server`` process; raw sockets play the clients that connect and say nothing, or stop
half-way through their headers (the way a few hundred of them used to exhaust the file limit).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from schedy.testing import ServiceProcess


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


def test_the_service_raises_its_soft_file_limit_to_the_hard_one(tmp_path: Path) -> None:
    with ServiceProcess.start(tmp_path / "home") as service:
        limits = Path(f"/proc/{service.process.pid}/limits").read_text()
    (line,) = [row for row in limits.splitlines() if row.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert soft == hard, line
