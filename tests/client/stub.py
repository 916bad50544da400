"""A scripted HTTP/1.1 service for testing the client's transport without a server.

It speaks real HTTP over a real socket (keep-alive included), records every
request with the client port it came from (one port = one TCP connection),
and answers from a script: per ``(method, path)``, a list of answers used in
turn, the last one repeating. ``POST token/`` answers a fresh JWT unless
scripted otherwise. An answer may also drop the connection without a word
(the request reached the service, the answer was lost) or close it right
after answering (a server ending an idle keep-alive connection).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from schedy._config import ClientConfig
from schedy._transport import RetryPolicy, Transport


@dataclass
class Answer:
    """One scripted answer."""

    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    close_after: bool = False  # answer, then close the connection (no Connection: close header)
    delay: float = 0.0


@dataclass
class Recorded:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int

    def json(self) -> Any:
        return json.loads(self.body)


class Stub:
    """The scripted service; use the ``stub`` fixture."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: dict[tuple[str, str], list[Answer | Callable[[Recorded], Answer]]] = {}
        self.tokens = 0
        self.token_lifetime = 3600.0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One segment per answer, sent at once: no Nagle/delayed-ACK stalls.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.client_address[1],
                )
                with stub._lock:
                    stub.requests.append(recorded)
                answer = stub._answer(recorded)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drop:
                    self.close_connection = True
                    return
                data = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else (b"" if answer.body is None else json.dumps(answer.body).encode())
                )
                self.send_response(answer.status)
                headers = dict(answer.headers)
                if data and "Content-Type" not in headers:
                    headers["Content-Type"] = "application/json"
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                if answer.close_after:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def on(self, method: str, path: str, *answers: Answer | Callable[[Recorded], Answer]) -> None:
        """Script the answers to ``method path`` (path relative to the root, with query)."""
        self.script[(method, "/" + path)] = list(answers)

    def _answer(self, request: Recorded) -> Answer:
        with self._lock:
            queue = self.script.get((request.method, request.path))
            if queue:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                return answer(request) if callable(answer) else answer
            if request.method == "POST" and request.path.endswith("/token/"):
                self.tokens += 1
                return Answer(200, {"token": f"jwt-{self.tokens}", "expiresAt": time.time() + self.token_lifetime})
        return Answer(
            404,
            {"title": "Not Found", "detail": f"No script for {request.method} {request.path}."},
            {"Content-Type": "application/problem+json"},
        )

    def calls(self, method: str, path: str) -> list[Recorded]:
        """The requests received for ``method path`` (path relative to the root)."""
        return [r for r in self.requests if r.method == method and r.path == "/" + path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_transport(url: str, attempts: int = 4) -> Transport:
    """A transport to ``url`` that retries fast."""
    config = ClientConfig.from_mapping({"root": url, "email": "me@example.com", "token": "secret"}, "test")
    return Transport(config, timeout=5.0, retry=RetryPolicy(attempts=attempts, backoff=0.001, max_backoff=0.01))


def job_json(job_id: str = "J1", experiment: str = "E", status: str = "RUNNING", **extra: Any) -> dict[str, Any]:
    """A job's JSON as the service sends it."""
    return {
        "id": job_id,
        "experiment": experiment,
        "status": status,
        "hyperparameters": {"x": 1},
        "results": {},
        **extra,
    }
