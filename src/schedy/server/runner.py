"""Run the service: ``schedy server``."""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import json
import logging
import os
import signal
import socket
import ssl
import sys
from types import FrameType
from typing import TYPE_CHECKING

from fastapi import FastAPI

from schedy import __version__
from schedy.server.api.app import create_app
from schedy.server.bootstrap import ensure_admin
from schedy.server.connections import guarded_protocol, raise_file_limit
from schedy.server.service.blobs import blob_store
from schedy.server.settings import Settings, data_dir, default_client_config_path
from schedy.server.store import Store
from schedy.server.store.engine import check_url, check_writable, opening, shown_url
from schedy.server.tls import check as check_certificate

if TYPE_CHECKING:
    import uvicorn

# How the parent hands its settings to the processes of ``--workers N``.
_SETTINGS_VARIABLE = "SCHEDY_SERVER_SETTINGS"

#: A self-signed certificate without its private key, in the data directory, for the clients' SSL_CERT_FILE.
CERTIFICATE_COPY = "certificate.pem"

#: Seconds a new process of ``--workers N`` may take to start serving after SIGHUP before the supervisor gives
#: up that restart, keeping the old process (and logs "New child process [PID] was not ready in time").
WORKER_START_TIMEOUT = 60

logger = logging.getLogger("schedy.server")

#: What a single service process logs on SIGHUP (``--workers N``: uvicorn restarts the processes instead).
HANGUP_LINE = (
    "Received SIGHUP: one service process has nothing to restart (with --workers N, SIGHUP restarts them one "
    "by one); still serving. SIGTERM or Ctrl-C stops it."
)


def app_from_environment() -> FastAPI:
    """The app of one of several service processes (``--workers N``), from the parent's settings."""
    # A SIGHUP to the whole process group (a closed terminal, kill -HUP -PGID) would end this process at
    # once, requests in flight included: the parent process receives it too and restarts this one gracefully.
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return create_app(Settings(**json.loads(os.environ[_SETTINGS_VARIABLE])))


def _on_hangup(signum: int, frame: FrameType | None) -> None:
    """SIGHUP to a single service process: say so, and keep serving (its default action ends the process).

    The line is logged from the event loop, not from inside the handler, which may have interrupted a write
    to the same stream.
    """
    import asyncio

    try:
        asyncio.get_running_loop().call_soon_threadsafe(logger.info, HANGUP_LINE)
    except RuntimeError:  # no loop yet, or no longer
        logger.info(HANGUP_LINE)


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """The certificate (PEM, its chain after it) and private key of a service serving HTTPS."""

    cert: str
    key: str | None = None

    def context(self) -> ssl.SSLContext:
        """A server context with them loaded: what uvicorn will load, tried before the service starts.

        Raises:
            TLSUnusable: a file is missing or unreadable, not PEM, or the key does not match the certificate.

        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            # An encrypted key would make OpenSSL ask for its passphrase on the terminal, blocking the start.
            context.load_cert_chain(self.cert, self.key, password=_no_passphrase)
        except _Encrypted:
            raise TLSUnusable(
                f"Cannot serve HTTPS with the key {self.key or self.cert}: it is encrypted, and the service "
                "starts unattended; decrypt it (openssl pkey -in KEY -out PLAIN-KEY) and keep that file "
                "readable by the service only."
            ) from None
        except FileNotFoundError as exc:
            raise TLSUnusable(f"Cannot serve HTTPS: no file {exc.filename or self.cert}.") from None
        except (OSError, ssl.SSLError) as exc:
            key = f" and key {self.key}" if self.key else ""
            code = getattr(exc, "reason", None)
            if code == "KEY_VALUES_MISMATCH":
                reason = "the key is not this certificate's"
            elif isinstance(exc, ssl.SSLError):
                reason = "not a PEM certificate and key" + (f": {code}" if code else "")
            else:
                reason = exc.strerror or str(exc)
            raise TLSUnusable(
                f"Cannot serve HTTPS with certificate {self.cert}{key} ({reason}): --tls-cert takes a PEM "
                "certificate (its chain after it) and --tls-key its private key, unencrypted."
            ) from None
        return context


class TLSUnusable(ValueError):
    """The TLS certificate or key cannot be used (one sentence)."""


class _Encrypted(Exception):
    """The private key needs a passphrase."""


def _no_passphrase() -> str:
    raise _Encrypted


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def plain_http_warning(host: str, public_url: str | None, tls: TLSFiles | None) -> str | None:
    """The warning for a service reachable from other machines over plain HTTP, or ``None``."""
    if tls is not None or _loopback(host) or (public_url or "").startswith("https://"):
        return None
    return (
        f"Warning: serving plain HTTP on {host}: passwords, API tokens and session tokens cross the network "
        "unencrypted. Serve HTTPS with --tls-cert and --tls-key, or put a reverse proxy with TLS in front "
        "(and pass --public-url https://...)."
    )


def local_root(host: str, port: int, *, https: bool) -> str:
    """The root a client on this machine reaches the service at, listening on ``host:port``.

    A wildcard address is reached at 127.0.0.1; an IPv6 address is bracketed (``http://[::1]:8700/``).
    """
    scheme = "https" if https else "http"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding it
        return f"{scheme}://127.0.0.1:{port}/"
    return f"{scheme}://[{host}]:{port}/" if ":" in host else f"{scheme}://{host}:{port}/"


class AddressInUse(OSError):
    """The address the service should listen on is taken (or not ours to take)."""


def _cannot_listen(host: str, port: int, exc: OSError) -> AddressInUse:
    """The sentence for an address the service cannot listen on."""
    if exc.errno == errno.EADDRINUSE:
        advice = "is another service running there? Stop it, or pick another port with --port."
    elif exc.errno == errno.EACCES:
        advice = "ports below 1024 need privileges; pick another port with --port."
    else:  # an address of no interface of this machine, a host name that does not resolve...
        advice = "pick an address of this machine with --host (0.0.0.0 for all of them)."
    return AddressInUse(f"Cannot listen on {host}:{port} ({exc.strerror or exc}): {advice}")


def bind_address(host: str, port: int) -> list[socket.socket]:
    """Bind ``host:port`` as the server's event loop would (every address a host name has), not listening yet.

    The service holds the port from its start, so no other process takes it meanwhile, and calls
    ``listen()`` only once it is ready: a client is refused until then, never kept waiting on a
    service that then fails to start.

    Raises:
        AddressInUse: with one sentence saying what to do.

    """
    bound: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):  # as asyncio's create_server
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in bound:
            sock.close()
        raise _cannot_listen(host, port, exc) from None
    return bound


def check_address(host: str, port: int) -> None:
    """Bind ``host:port`` once, as the server will, and let it go.

    Raises:
        AddressInUse: with one sentence saying what to do.

    """
    for sock in bind_address(host, port):
        sock.close()


def serve(
    settings: Settings, host: str, port: int, *, log_level: str = "info", workers: int = 1, tls: TLSFiles | None = None
) -> None:
    """Migrate, create the first admin if needed, and serve until interrupted.

    Raises :class:`AddressInUse`, :class:`~schedy.server.store.engine.DatabaseUnavailable` or
    :class:`~schedy.server.service.blobs.ArtifactsUnavailable` (one sentence each) when the service
    cannot start; an unusable artifact store is found before the database is opened.

    With ``workers`` > 1, that many service processes share the port (as
    several services share one database: all state is in it, and the artifacts' files in the one
    artifact store they are all given). With ``tls``,
    it serves HTTPS only. The port is held from the start and listens only
    once the service is ready: ``is serving`` is printed then.
    """
    sockets = bind_address(host, port)  # held from now on; listening once "is serving" is true
    try:
        _start_and_serve(sockets, settings, host, port, log_level=log_level, workers=workers, tls=tls)
    finally:
        for sock in sockets:
            sock.close()


def _start_and_serve(
    sockets: list[socket.socket],
    settings: Settings,
    host: str,
    port: int,
    *,
    log_level: str,
    workers: int,
    tls: TLSFiles | None,
) -> None:
    """:func:`serve`, on the bound ``sockets``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    blobs = blob_store(settings.artifacts_url, data_dir())  # before the database: a bad store changes nothing
    with opening(settings.database_url):
        check_writable(check_url(settings.database_url))
        store = Store(check_url(settings.database_url), pool_size=settings.pool_size)
        app = create_app(settings, store=store, blobs=blobs)  # migrates the database, once, before any worker starts
    root = settings.public_url or local_root(host, port, https=tls is not None)
    fit = (
        None
        if tls is None
        else check_certificate(
            tls.context(),
            tls.cert,
            root,
            local=not settings.public_url,
            certificate_copy=data_dir() / CERTIFICATE_COPY,  # what to hand out if the cert's file holds its key
        )
    )
    if fit is not None:
        root = fit.root  # https://localhost:PORT/ for a certificate that names localhost and not 127.0.0.1
    # Before "is serving": the last start-up step that can fail (a client configuration it cannot write).
    first = ensure_admin(store, root, default_client_config_path())
    if workers > 1:
        store.dispose()
        os.environ[_SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
    elif hasattr(signal, "SIGHUP"):
        # uvicorn's supervisor of --workers N restarts its processes on SIGHUP; a single one has none to restart.
        signal.signal(signal.SIGHUP, _on_hangup)
    raise_file_limit()  # many workers hold connections; the usual 1,024 files run out
    server = _server(app, settings, host, port, log_level=log_level, workers=workers, tls=tls)
    for sock in sockets:
        # From here the port accepts connections: a request waits in the queue until a process takes it.
        sock.listen(server.config.backlog)
    # The first line says which Schedy this is (not the 2018 client of the package index).
    processes = f" with {workers} processes" if workers > 1 else ""
    where = shown_url(settings.database_url)
    print(f"Schedy {__version__} (self-hosted) is serving {where} at {root}{processes}", flush=True)
    warning = plain_http_warning(host, settings.public_url, tls)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    if first is not None:
        print(f"Created the first user, {first.email} (password: {first.password}).", flush=True)
        print(f"Log in to the dashboard at {root} with it, or change it: schedy user passwd {first.email}", flush=True)
        problems = () if fit is None else fit.problems
        if first.config_path is not None and not problems:
            print(f"Wrote a client configuration to {first.config_path}: schedy.SchedyDB() now works here.", flush=True)
        elif first.config_path is not None:
            # Not "now works here": the client's first request would fail the certificate's verification.
            print(
                f"Wrote a client configuration to {first.config_path}, but clients will refuse the service's "
                f"certificate at {root}:",
                flush=True,
            )
            for problem in problems:
                print(f"  {problem}", flush=True)
        else:
            # Never print a token to a log: the password above gets one when needed.
            print(
                f"Kept the existing client configuration {default_client_config_path()}; for a token of "
                f"{first.email}: schedy gen-token --root {root} --email {first.email}",
                flush=True,
            )
    _run(server, sockets, workers)


def _server(
    app: FastAPI, settings: Settings, host: str, port: int, *, log_level: str, workers: int, tls: TLSFiles | None
) -> uvicorn.Server:
    """The uvicorn server of the service (its app loaded when one process serves)."""
    import inspect

    import uvicorn

    options: dict[str, object] = {}
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # How long a new process of --workers N may take to start on SIGHUP before the restart is given up
        # (uvicorn's default, 5 s, is less than a start takes on a busy machine).
        options["timeout_worker_healthcheck"] = WORKER_START_TIMEOUT
    config = uvicorn.Config(
        app if workers <= 1 else f"{__name__}:app_from_environment",
        http=guarded_protocol(settings.header_timeout),
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=None if tls is None else tls.cert,
        ssl_keyfile=None if tls is None else tls.key,
        **options,  # type: ignore[arg-type]
    )
    if workers <= 1:
        config.load_app()
    return uvicorn.Server(config)


def _run(server: uvicorn.Server, sockets: list[socket.socket], workers: int) -> None:
    """Serve on the listening ``sockets`` until stopped, as ``uvicorn.run`` would on its own."""
    from uvicorn.config import STARTUP_FAILURE

    try:
        if workers > 1:
            import inspect

            from uvicorn.supervisors import Multiprocess

            for sock in sockets:
                sock.set_inheritable(True)
            if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36
                Multiprocess(server.config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg]
            else:
                Multiprocess(server.config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    if workers <= 1 and not server.started:
        sys.exit(STARTUP_FAILURE)
