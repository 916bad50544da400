"""HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured, as urllib and requests (the 0.1.0b6 client's) do.

A small forward proxy, written here, stands between the client and a real service: it alone knows the
name ``schedy.internal`` (127.0.0.1), as on a cluster whose nodes reach the service only through a proxy.
It forwards absolute-form requests (an ``http://`` root) and tunnels ``CONNECT`` (an ``https://`` root).
Before, the client ignored the variables and said "the host is unknown".
"""

from __future__ import annotations

import base64
import http.client
import http.server
import select
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme

import schedy
from schedy.errors import ServiceUnreachableError
from schedy.testing import ServiceProcess, free_port
from tests.conftest import Service

NAME = "schedy.internal"  # known to the proxy only


class _Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str]
    tunnels: list[str]
    authorizations: list[str | None]

    def _forward(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.authorizations.append(self.headers.get("Proxy-Authorization"))
        url = urlsplit(self.path)
        if url.scheme != "http":  # not absolute form: no proxy would know where to send it
            self.send_error(400, "absolute-form target expected")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        host = "127.0.0.1" if url.hostname == NAME else (url.hostname or "")
        upstream = http.client.HTTPConnection(host, url.port or 80, timeout=30)
        try:
            upstream.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def do_CONNECT(self) -> None:
        self.tunnels.append(self.path)
        self.authorizations.append(self.headers.get("Proxy-Authorization"))
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection(("127.0.0.1" if host == NAME else host, int(port)), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 30)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def proxy() -> Iterator[type[_Proxy]]:
    """A forward proxy on 127.0.0.1 (``proxy.port``); what it received in ``seen``, ``tunnels``, ``authorizations``."""
    handler = type("Handler", (_Proxy,), {"seen": [], "tunnels": [], "authorizations": []})
    server = _Server(("127.0.0.1", 0), handler)
    handler.port = server.server_address[1]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def _config(service: Service, root: str) -> dict[str, str]:
    return {**service.client_config, "root": root}


def test_an_http_root_is_reached_through_http_proxy(
    service: Service, proxy: type[_Proxy], clean_proxy_env: pytest.MonkeyPatch
) -> None:
    port = urlsplit(service.url).port
    # Credentials in the variable (percent-encoded) go to the proxy, never to the service.
    clean_proxy_env.setenv("HTTP_PROXY", f"http://me:p%40ss@127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]
    with schedy.SchedyDB(config_override=_config(service, f"http://{NAME}:{port}/")) as db:
        exp = db.add_experiment(schedy.ManualSearch("proxied"))
        exp.add_job(hyperparameters={"x": 1})
        with exp.next_job() as job:
            assert job.report(0, loss=1.0) is False
            job.results["loss"] = 0.5
        assert exp.get_job(job.job_id).status == schedy.Job.DONE
    assert proxy.seen, "the proxy received nothing"
    assert all(line.split(" ", 1)[1].startswith(f"http://{NAME}:{port}/") for line in proxy.seen), proxy.seen
    assert set(proxy.authorizations) == {"Basic " + base64.b64encode(b"me:p@ss").decode()}


def test_no_proxy_reaches_the_service_directly(
    service: Service, proxy: type[_Proxy], clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]
    clean_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1")
    with schedy.SchedyDB(config_override=service.client_config) as db:
        assert list(db.get_experiments()) == []
    assert proxy.seen == []


def test_a_proxy_that_does_not_answer_is_named_in_the_error(
    service: Service, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    closed = free_port()
    clean_proxy_env.setenv("http_proxy", f"http://127.0.0.1:{closed}")
    started = time.monotonic()
    with schedy.SchedyDB(config_override=service.client_config) as db, pytest.raises(ServiceUnreachableError) as caught:
        list(db.get_experiments())
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"the proxy http://127.0.0.1:{closed} (http_proxy)" in message
    assert "NO_PROXY" in message


def test_an_https_root_is_reached_through_a_connect_tunnel(
    tmp_path: Path, proxy: type[_Proxy], clean_proxy_env: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert(NAME, "127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    with ServiceProcess.start(tmp_path / "home", extra_args=("--tls-cert", str(tmp_path / "both.pem"))) as service:
        user = service.new_user()
        clean_proxy_env.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        clean_proxy_env.setenv("HTTPS_PROXY", f"127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]  # no scheme: http://
        config = {**user.client_config, "root": f"https://{NAME}:{service.port}/"}
        with schedy.SchedyDB(config_override=config) as db:
            exp = db.add_experiment(schedy.ManualSearch("tunnelled"))
            exp.add_job(hyperparameters={"x": 1})
            with exp.next_job() as job:
                job.results["loss"] = 0.5
            assert exp.get_job(job.job_id).status == schedy.Job.DONE
    assert proxy.tunnels
    assert set(proxy.tunnels) == {f"{NAME}:{service.port}"}
    assert proxy.seen == []  # nothing in the clear: TLS end to end, the certificate checked for its name
