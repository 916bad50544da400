"""HTTP to the Schedy service: connections, authentication and retries.

One :class:`Transport` serves a :class:`schedy.SchedyDB` and every thread
that uses it:

* **Connections.** Each thread keeps one persistent (keep-alive)
  :mod:`http.client` connection, so a worker loop pays for TCP set-up once,
  not per request. A request is written in one piece, headers and body
  together (:mod:`http.client` writes them separately: two segments, and two
  wake-ups of the service, per request); :func:`schedy._http.read_response`
  reads the answer (:class:`http.client.HTTPResponse`'s work for a fifth of
  its CPU). Before reusing an idle connection the transport checks
  that the service has not closed it meanwhile (servers drop idle
  connections after a few seconds), so that a training step longer than the
  server's keep-alive timeout does not turn into a failed request. A process
  forked from one that already talked to the service opens its own
  connection instead of sharing the parent's socket, and gets locks of its
  own (a lock another thread of the parent held at the fork would stay held
  in the child for ever).
* **Proxies.** ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (either case) are
  honoured as :mod:`urllib` and ``requests`` do (:func:`urllib.request.getproxies`,
  :func:`urllib.request.proxy_bypass`): an ``http://`` root is asked through
  the proxy in absolute form, an ``https://`` root through a ``CONNECT``
  tunnel (TLS end to end, the service's certificate checked as without a
  proxy). Only ``http://`` proxies are supported.
* **Authentication.** The API token (or password) is exchanged for a JWT
  (``POST token/`` or ``POST passauth/``), renewed shortly before it
  expires (its lifetime, ``exp`` − ``iat`` by the service's clock, counted on
  this machine's monotonic clock, so a wrong wall clock does not matter)
  and, should the service still answer 401, renewed and the request retried
  once. The JWT is shared by all threads; one renews it while the others
  wait, and no lock is held while it is sent (its retries may last a
  minute during an outage).
* **Retries.** Only failures that say nothing about the request itself are
  retried, with exponential backoff and jitter: no connection, a connection
  lost mid-request, and the statuses 502, 503 and 504. A 4xx is never
  retried: it will not change. The retries last the policy's
  :meth:`RetryPolicy.window` (about a minute) however they are spaced: an
  answer's ``Retry-After`` (2 s while the service cannot reach its
  database) spaces them more closely than the backoff, and a count of
  attempts alone would then give up after 18 s. A request that is not safe
  to repeat (``replay=False``, e.g. ``POST jobs/`` which would add a second job) is
  retried only when it certainly did not reach the service: the connection
  could not be opened, or the answer was 503 (the service did not handle
  it). :attr:`Response.replayed` tells the caller that an earlier attempt
  may have been applied, so that a 412 after a retried conditional request
  can be recognised as our own earlier success.
"""

from __future__ import annotations

import base64
import http.client
import logging
import math
import os
import random
import re
import select
import socket
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol
from urllib.parse import unquote, urlsplit

from schedy import _encoding
from schedy._config import ClientConfig
from schedy._http import read_response
from schedy._version import __version__
from schedy.errors import (
    HTTPError,
    ServiceUnreachableError,
    UnhandledResponseError,
    UntrustedCertificateError,
    error_for_status,
)

__all__ = [
    "REACHED_ENV",
    "USER_AGENT",
    "HeaderLookup",
    "Response",
    "RetryPolicy",
    "Transport",
    "reached_by_runner",
    "untrusted",
]

#: The pause before the one second try of a first connection that was refused (a service starting).
_FIRST_CONTACT_PAUSE = 0.5
#: Seconds to wait for a connection to open, by default.
CONNECT_TIMEOUT = 10.0
#: Set by ``schedy run`` for its commands to the root of the service it reached: a transport to that root
#: counts the service as reached, so a refused connection is an outage (retried), not a wrong root.
REACHED_ENV = "SCHEDY_SERVICE_REACHED"


def reached_by_runner(root: str) -> bool:
    """Whether this process is a command of ``schedy run`` whose runner reached the service at ``root``."""
    return os.environ.get(REACHED_ENV) == root


logger = logging.getLogger("schedy")

_RETRY_STATUSES = frozenset((502, 503, 504))
# What may not appear in a request target or a header (no request smuggling
# through a value the service sent us, such as an ETag).
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
_BAD_HEADER = re.compile(r"[\r\n\x00]")
#: ``schedy-python/VERSION``: the service tells clients of one version from another by it (schedy.server.legacy).
USER_AGENT = f"schedy-python/{__version__}"
_JSON = "application/json"
#: Renew a JWT this long before it expires (at most a tenth of its life).
_RENEW_MARGIN = 60.0
#: Seconds between two log lines about the retries of one request (the first is always said).
_SAY_EVERY = 10.0
#: What OpenSSL says when a TLS handshake gets a plain-HTTP answer (an https:// root of an http:// service).
_PLAIN_HTTP_ANSWER = frozenset(("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"))
#: How http.client says a proxy refused a CONNECT: ``Tunnel connection failed: 407 Proxy Authentication Required``.
_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})\s*(.*)", re.DOTALL)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request that failed in transit.

    The n-th retry waits ``min(max_backoff, backoff * 2**n)`` seconds, times a
    random factor in [0.5, 1) so that many workers do not retry in step, or
    what the service's ``Retry-After`` asks for (at least ``backoff``, at
    most ``max_backoff``). A request is retried until it was sent
    ``attempts`` times *and* its :meth:`window` has passed, so the defaults
    ride out about a minute of service downtime whatever the spacing.

    Attributes:
        attempts: how many times to send a request at least (1 = no retry,
            when the window is over too).
        backoff: the first wait, in seconds.
        max_backoff: the longest wait, in seconds.

    Example:
        >>> round(RetryPolicy().window(), 2)
        60.75

    """

    attempts: int = 10
    backoff: float = 0.25
    max_backoff: float = 15.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before the ``retry``-th retry (0-based)."""
        # Jitter only spreads retries in time; it protects nothing.
        return self._wait(retry) * (0.5 + random.random() / 2)  # noqa: S311

    def window(self, attempts: int | None = None) -> float:
        """Seconds a request is retried for at least: the waits of ``attempts`` attempts, without jitter.

        ``attempts`` defaults to the policy's own (a request may ask for fewer, e.g. a heartbeat).
        """
        count = self.attempts if attempts is None else attempts
        return sum(self._wait(retry) for retry in range(count - 1))

    def _wait(self, retry: int) -> float:
        return min(self.max_backoff, self.backoff * 2.0 ** min(retry, 64))  # no float overflow, however long


def untrusted(root: str, exc: ssl.SSLCertVerificationError) -> UntrustedCertificateError:
    """The error for a service whose certificate failed verification, with what to do about it."""
    reason = exc.verify_message or exc.reason or str(exc)
    return UntrustedCertificateError(
        f"The service at {root} presented a TLS certificate this machine does not trust ({reason}). If the "
        "service uses a certificate of your own authority, or a self-signed one, point SSL_CERT_FILE at that "
        "authority's PEM file; if its name is wrong, use the host name the certificate was made for."
    )


class HeaderLookup(Protocol):
    """An answer's headers: :class:`schedy._http.Headers`, or :class:`http.client.HTTPMessage` (artifacts)."""

    def get(self, name: str, /) -> Any:
        """The value of the header ``name`` (any case), or ``None``."""


class Response:
    """A complete answer of the service.

    Attributes:
        status: the HTTP status.
        headers: the headers (case-insensitive ``get``).
        data: the body.
        replayed: an earlier attempt of this request may have reached the
            service (and been applied) before this answer came.

    """

    __slots__ = ("data", "headers", "replayed", "status")

    def __init__(self, status: int, headers: HeaderLookup, data: bytes, replayed: bool) -> None:
        self.status = status
        self.headers = headers
        self.data = data
        self.replayed = replayed

    def json(self) -> Any:
        """Decode the body as JSON (NaN/Infinity tokens accepted)."""
        try:
            return _encoding.loads(self.data)
        except ValueError as exc:
            text = self.data.decode(errors="replace").strip()
            shown = _html_page(text) if text.startswith("<") else repr(text[:200])
            raise UnhandledResponseError(f"Expected JSON, got: {shown}", self.status) from exc

    def etag(self) -> str:
        """Return the ``ETag`` header, which every answer carrying one job has."""
        etag = self.headers.get("ETag")
        if not etag:
            raise UnhandledResponseError("The service sent a job without its ETag header.", self.status)
        return str(etag)


class _NotSent(Exception):
    """The request certainly did not reach the service."""


class _MaybeSent(Exception):
    """The request may have reached the service; its answer was lost."""


def _is_dropped(sock: socket.socket) -> bool:
    """Whether an idle keep-alive socket was closed by the peer (it is readable: EOF or garbage)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _html_page(text: str) -> str:
    """An HTML answer (another web server's: a proxy, a wrong root) as its title, not its markup."""
    title = _TITLE.search(text)
    return "an HTML page" + (f" titled {' '.join(title.group(1).split())[:200]!r}" if title else "")


#: How a service answers a body with a top-level key it does not know (server/wire.py), e.g. an option
#: added in a later version than its own.
_OLDER_SERVICE_SIGN = "Unknown experiment field(s)"


def problem_message(status: int, data: bytes, method: str, path: str) -> str:
    """One line for an error answer: the problem's ``detail`` (or ``title``) and the request.

    Example:
        >>> problem_message(404, b'{"title": "Not found", "detail": "No such experiment."}', "GET", "experiments/x/")
        'HTTP error 404 on GET experiments/x/: No such experiment.'

    """
    text = data.decode("utf-8", errors="replace").strip()
    try:
        problem = _encoding.loads(data) if data else None
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        detail = problem.get("detail") or problem.get("title")
        if isinstance(detail, str) and detail:
            text = detail
        elif detail is not None:
            text = _encoding.dumps(detail).decode()
    elif text.startswith("<"):  # another web server's HTML page (a proxy, a wrong root): its title, not its markup
        text = _html_page(text)
    if len(text) > 500:
        text = text[:497] + "..."
    if status == 422 and text.startswith(_OLDER_SERVICE_SIGN):  # a field this client sends, unknown there
        text += f" The service may be older than this client (Schedy {__version__}): upgrade it to use that field."
    if len(path) > 120:  # a very long name: its start says which request it was
        path = path[:117] + "..."
    return f"HTTP error {status} on {method} {path}: {text or '<no message from the service>'}"


def raise_for(response: Response, method: str, path: str) -> NoReturn:
    """Raise the error that ``response`` stands for, showing the problem's detail."""
    error = error_for_status(response.status, response.data.decode("utf-8", errors="replace"))
    # Keep the raw answer in .body but show the readable detail.
    error.args = (problem_message(response.status, response.data, method, path),)
    raise error


class _Token:
    __slots__ = ("deadline", "header")

    def __init__(self, jwt: str, deadline: float | None) -> None:
        self.header = f"Bearer {jwt}"
        self.deadline = deadline


class _Proxy:
    """The HTTP proxy requests to the service go through (``HTTP_PROXY``/``HTTPS_PROXY``)."""

    __slots__ = ("headers", "host", "port", "problem", "shown", "source")

    def __init__(self, url: str, source: str) -> None:
        self.source = source
        self.headers: dict[str, str] = {}
        self.problem: str | None = None
        parts = urlsplit(url if "://" in url else "http://" + url)  # "proxy:3128" is an http:// proxy, as for urllib
        netloc = parts.netloc.rpartition("@")[2]  # never shown with its password
        self.shown = f"{parts.scheme}://{netloc}"
        self.host = parts.hostname or ""
        try:
            self.port = parts.port or 80
        except ValueError:
            self.port = 80
            self.problem = "its port is not a number"
        if parts.scheme != "http":
            self.problem = "Schedy's client supports http:// proxies only (a CONNECT tunnel carries https:// roots)"
        elif not self.host:
            self.problem = "it names no host"
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Proxy-Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")

    def said(self) -> str:
        """Which proxy, and where it was set: e.g. ``the proxy http://proxy:3128 (HTTPS_PROXY)``."""
        return f"the proxy {self.shown} ({self.source})"


def _proxy_for(https: bool, host: str, port: int | None) -> _Proxy | None:
    """The proxy for a service at ``host:port``, as :mod:`urllib` and ``requests`` pick it (``NO_PROXY`` included)."""
    scheme = "https" if https else "http"
    url = urllib.request.getproxies().get(scheme)
    if not url:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if urllib.request.proxy_bypass(f"{netloc}:{port or (443 if https else 80)}"):
        return None
    names = [name for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY") if os.environ.get(name)]
    return _Proxy(url, names[0] if names else "the system's proxy settings")


class _Pool:
    """Every connection a transport opened, with its thread, and the lock guarding them."""

    __slots__ = ("conns", "lock")

    def __init__(self) -> None:
        self.conns: list[tuple[weakref.ref[threading.Thread], http.client.HTTPConnection]] = []
        self.lock = threading.Lock()


class _ThreadState(threading.local):
    conn: http.client.HTTPConnection | None = None
    pid: int = 0
    timeout: float | None = None


class Transport:
    """Sends requests to one Schedy service on behalf of one user.

    Thread-safe: each thread gets its own keep-alive connection; the JWT is
    shared. :class:`schedy.SchedyDB` builds one from its configuration; tests
    may pass their own.

    Args:
        config: where the service is and who we are.
        timeout: seconds to wait for the service to answer (long polls add
            their wait to it).
        retry: the retry policy for failures in transit.
        connect_timeout: seconds to wait for a connection to open (at most
            ``timeout``): a host that drops packets costs this, not a whole
            ``timeout``, per attempt.

    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry = retry if retry is not None else RetryPolicy()
        # A command of `schedy run` (REACHED_ENV names this root): its runner reached the service, so a
        # refused connection is an outage, ridden out as the runner does.
        in_a_job = reached_by_runner(config.root)
        parts = urlsplit(config.root)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path or "/"
        host = f"[{self._host}]" if ":" in self._host else self._host
        default_port = 443 if self._https else 80
        self._host_header = host if self._port in (None, default_port) else f"{host}:{self._port}"
        self._proxy = _proxy_for(self._https, self._host, self._port)
        self._state = _ThreadState()
        # Whether the service ever answered: until it has, a refused connection ends at once.
        self._reached = in_a_job
        self._token: _Token | None = None
        # Every connection opened, with its thread, so that close() and the
        # garbage collector close them all (and dead threads' ones early).
        self._pool = _Pool()
        self._finalizer = weakref.finalize(self, _close_all, self._pool)
        self._new_locks()
        _TRANSPORTS.add(self)

    def _new_locks(self) -> None:
        """Locks of this process's own: at creation, and in a child forked while another thread held one."""
        self._auth_lock = threading.Lock()
        self._renewed = threading.Condition(self._auth_lock)  # a renewal ended (well or not)
        self._renewing = False  # a thread is logging in (without holding the lock)
        self._pool.lock = threading.Lock()
        self._locks_pid = os.getpid()

    # -- public -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        expect: Collection[int] = (200,),
        replay: bool = True,
        timeout: float | None = None,
        attempts: int | None = None,
        authenticate: bool = True,
    ) -> Response:
        """Send ``method path`` (relative to the root) and return the answer.

        Args:
            method: the HTTP method.
            path: relative to the root, e.g. ``experiments/MNIST/``.
            body: a JSON-encodable object, or ``None`` for no body.
            headers: extra headers (``If-Match``…).
            expect: the statuses returned; any other raises the error it
                stands for (see :func:`raise_for`).
            replay: whether the request may be sent again after it may have
                reached the service (true for GET, PUT, DELETE and other
                requests whose repetition does no harm).
            timeout: seconds to wait for the answer (default: ``self.timeout``).
            attempts: overrides the retry policy's number of attempts (and
                so its window: :meth:`RetryPolicy.window`).
            authenticate: send the JWT (false only for logging in).

        Raises:
            schedy.errors.HTTPError: an unexpected status (the matching
                subclass), or no answer after the retries (``code`` is None).

        """
        data = None if body is None else _encoding.dumps(body)
        all_headers = {"Accept": _JSON, "User-Agent": USER_AGENT}
        if data is not None:
            all_headers["Content-Type"] = _JSON
        if headers:
            all_headers.update(headers)
        target = self._base + path
        max_attempts = attempts if attempts is not None else self.retry.attempts
        window = self.retry.window(max_attempts)
        wait = self.timeout if timeout is None else timeout
        started = time.monotonic()
        said: float | None = None  # when a retry was last logged
        attempt = 0
        reauthenticated = False
        replayed = False
        while True:
            token = None
            if authenticate:
                token = self._current_token(attempts)
                all_headers["Authorization"] = token.header
            failure: Exception | None = None
            try:
                status, msg, answer = self._exchange(method, target, data, all_headers, wait)
                self._reached = True
            except _NotSent as exc:
                failure = exc
                cause = exc.__cause__
                if (
                    not self._reached
                    and cause is not None
                    and (
                        isinstance(cause, (ConnectionRefusedError, socket.gaierror, TimeoutError))
                        # the proxy could not reach the service (a 502 to CONNECT): as a refused connection
                        or (self._proxy is not None and _TUNNEL_FAILED.match(str(cause)) is not None)
                    )
                ):
                    # Nothing listens there, the host does not exist or drops our packets: one quick second
                    # try (a service still starting), then say so, instead of a minute of retries.
                    if attempt >= 1 or max_attempts <= 1:
                        raise self._not_listening(cause) from cause
                    time.sleep(_FIRST_CONTACT_PAUSE)
                    attempt += 1
                    continue
            except _MaybeSent as exc:
                failure = exc
                if not replay:
                    raise self._unreachable(
                        method, path, exc, "the request may have reached it, so it was not sent again"
                    ) from exc.__cause__
                replayed = True
            else:
                if status == 401 and authenticate and not reauthenticated:
                    reauthenticated = True
                    self._forget_token(token)
                    continue
                retryable = status in _RETRY_STATUSES and (replay or status == 503)
                pause = self._retry_after(msg, attempt) if retryable else 0.0
                if not retryable or self._spent(attempt, max_attempts, started, pause, window):
                    response = Response(status, msg, answer, replayed)
                    if status not in expect:
                        raise_for(response, method, path)
                    return response
                if status != 503:
                    replayed = True
                if said is None or time.monotonic() - said >= _SAY_EVERY:
                    said = time.monotonic()
                    logger.warning("Schedy service answered %d to %s %s; retrying.", status, method, path)
                time.sleep(pause)
                attempt += 1
                continue
            pause = self.retry.delay(attempt)
            if self._spent(attempt, max_attempts, started, pause, window):
                raise self._unreachable(
                    method,
                    path,
                    failure,
                    f"gave up after {attempt + 1} attempts in {time.monotonic() - started:.0f} s",
                ) from failure.__cause__
            if said is None or time.monotonic() - said >= _SAY_EVERY:
                said = time.monotonic()
                logger.warning(
                    "Cannot reach the Schedy service (%s) for %s %s; retrying.", failure.__cause__, method, path
                )
            time.sleep(pause)
            attempt += 1

    def close(self) -> None:
        """Close every connection this transport opened (they reopen on demand)."""
        # Every thread's next request opens a connection of its own again, kept in _conns, so that a
        # later close() or the garbage collector closes it too (a thread would otherwise reconnect the
        # connection it held, which _conns no longer lists, and leave it open).
        self._state = _ThreadState()
        _close_all(self._pool)

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (for threads about to end)."""
        conn = self._state.conn
        if conn is not None:
            self._state.conn = None
            pool = self._pool
            with pool.lock:
                pool.conns[:] = [(t, c) for t, c in pool.conns if c is not conn]
            conn.close()

    # -- connections ------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        state = self._state
        conn = state.conn
        pid = os.getpid()
        if conn is not None and state.pid == pid:
            return conn
        # First request of this thread, or first in a forked child: never
        # touch a socket inherited from the parent (it would interleave).
        conn = self._new_connection()
        state.conn, state.pid, state.timeout = conn, pid, self.timeout
        thread = weakref.ref(threading.current_thread())
        pool = self._pool
        with pool.lock:
            dead = [c for t, c in pool.conns if not _alive(t())]
            pool.conns[:] = [(t, c) for t, c in pool.conns if _alive(t())]
            pool.conns.append((thread, conn))
        for old in dead:
            old.close()
        return conn

    def _new_connection(self) -> http.client.HTTPConnection:
        """A connection to the service (not opened yet): direct, or through the proxy the environment names."""
        proxy = self._proxy
        if proxy is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            return cls(self._host, self._port, timeout=self.timeout)
        if proxy.problem is not None:
            raise ServiceUnreachableError(
                f"Cannot use {proxy.said()} to reach {self.config.root}: {proxy.problem}. Fix it, or add the "
                "service's host to NO_PROXY to reach it directly."
            )
        if not self._https:
            # Requests name the whole URL (absolute form, see _message); the proxy connects to the service.
            return http.client.HTTPConnection(proxy.host, proxy.port, timeout=self.timeout)
        conn = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=self.timeout)
        # CONNECT host:port, then TLS with the service through the tunnel (its certificate checked for its name).
        conn.set_tunnel(self._host, self._port or 443, headers=proxy.headers)
        return conn

    def _request_target(self, target: str) -> str:
        """The request line's target for ``target`` (the root's path and beyond): absolute through an HTTP proxy."""
        if self._proxy is not None and not self._https:
            return f"http://{self._host_header}{target}"
        return target

    def _exchange(
        self, method: str, target: str, data: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, HeaderLookup, bytes]:
        conn = self._connection()
        state = self._state
        if conn.sock is not None and _is_dropped(conn.sock):
            conn.close()
        if conn.sock is None:
            conn.timeout = min(timeout, self.connect_timeout)
            try:
                conn.connect()
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                raise untrusted(self.config.root, exc) from None  # retrying will not make it valid
            except ssl.SSLError as exc:
                conn.close()
                if exc.reason in _PLAIN_HTTP_ANSWER:  # a plain-HTTP answer to our TLS hello: retrying will not help
                    raise self._plain_http() from None
                raise _NotSent() from exc
            except OSError as exc:
                conn.close()
                refused = self._tunnel_refused(exc)
                if refused is not None:
                    raise refused from None
                raise _NotSent() from exc
            if conn.sock is not None:  # connected: answers get the whole timeout
                conn.sock.settimeout(timeout)
            state.timeout = timeout
        elif state.timeout != timeout:
            conn.sock.settimeout(timeout)
            state.timeout = timeout
        message = self._message(method, target, data, headers)
        try:
            sock = conn.sock
            sock.sendall(message)
            status, msg, answer, close = read_response(sock, method)
            if close:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _MaybeSent() from exc
        except BaseException:
            # E.g. KeyboardInterrupt during a long poll: the answer, if any,
            # would be read as the answer to the next request.
            conn.close()
            raise
        return status, msg, answer

    def _message(self, method: str, target: str, data: bytes | None, headers: dict[str, str]) -> bytes:
        """The whole HTTP/1.1 request, as :mod:`http.client` would write it, in one buffer."""
        if _BAD_TARGET.search(target):
            raise ValueError(f"Refusing to send a request to {target!r}: it holds control characters or spaces.")
        lines = [
            f"{method} {self._request_target(target)} HTTP/1.1",
            f"Host: {self._host_header}",
            "Accept-Encoding: identity",
        ]
        if self._proxy is not None and not self._https:  # (through a tunnel, the proxy got them with CONNECT)
            lines.extend(f"{name}: {value}" for name, value in self._proxy.headers.items())
        for name, value in headers.items():
            if _BAD_HEADER.search(name) or _BAD_HEADER.search(value):
                raise ValueError(f"Refusing to send the header {name!r}: it holds a line break.")
            lines.append(f"{name}: {value}")
        if data is not None:
            lines.append(f"Content-Length: {len(data)}")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if data is None else head + data

    def _not_listening(self, cause: BaseException) -> ServiceUnreachableError:
        if isinstance(cause, socket.gaierror):
            what = "the host is unknown"
        elif isinstance(cause, TimeoutError):
            what = f"no connection within {self.connect_timeout:g} s"
        else:
            what = "connection refused"
        proxy = self._proxy
        if proxy is not None:
            tunnel = _TUNNEL_FAILED.match(str(cause))
            if tunnel is not None:  # the proxy answered, but could not reach the service
                return ServiceUnreachableError(
                    f"Nothing answers at {self.config.root} through {proxy.said()}: it answered "
                    f"{tunnel.group(1)} {tunnel.group(2).strip()} to CONNECT. Start a service there with `schedy "
                    f"server`, or point the client at the right one ({self._root_source()}); if the service is "
                    "reachable without the proxy, add its host to NO_PROXY."
                )
            return ServiceUnreachableError(
                f"Nothing answers at {proxy.said()}, through which requests to {self.config.root} go ({what}). "
                "Check the proxy, or add the service's host to NO_PROXY to reach it directly."
            )
        return ServiceUnreachableError(
            f"Nothing answers at {self.config.root} ({what}). Start a service there with `schedy server`, "
            f"or point the client at the right one ({self._root_source()})."
        )

    def _plain_http(self) -> ServiceUnreachableError:
        """The error for an ``https://`` root of a service that speaks plain HTTP."""
        plain = "http://" + self.config.root.partition("://")[2]
        return ServiceUnreachableError(
            f"The service at {self.config.root} speaks plain HTTP, not HTTPS: use the root {plain} "
            f"({self._root_source()}), or start the service with --tls-cert to serve HTTPS."
        )

    def _tunnel_refused(self, exc: OSError) -> ServiceUnreachableError | None:
        """The error for a proxy that refused our CONNECT for good (not a 502/503/504: the service away)."""
        proxy = self._proxy
        tunnel = _TUNNEL_FAILED.match(str(exc)) if proxy is not None else None
        if proxy is None or tunnel is None or int(tunnel.group(1)) in _RETRY_STATUSES:
            return None
        return ServiceUnreachableError(
            f"The proxy {proxy.shown} ({proxy.source}) refused to connect to {self._host}:{self._port or 443} "
            f"for {self.config.root}: {tunnel.group(1)} {tunnel.group(2).strip()}. Check the proxy's settings "
            "(and its credentials, user:password@ in the variable), or add the service's host to NO_PROXY."
        )

    def _wrong_root(self) -> str:
        """What to check when something that is not a Schedy service's login answers at the root."""
        return (
            f"Is {self.config.root} the root of a Schedy service? `schedy server` prints its root when it "
            f"starts ({self._root_source()})."
        )

    def _root_source(self) -> str:
        """Where the root came from, to be changed: e.g. ``the 'root' of /home/me/.schedy/client.json``."""
        source = self.config.source
        if self.config.root_name:  # given otherwise than as a configuration's key, e.g. gen-token's --root
            return self.config.root_name
        if source.startswith("file "):
            where = f"the 'root' of {source[len('file ') :].removesuffix(' with config_override')}"
        elif source.startswith("the environment"):
            where = "SCHEDY_ROOT"
        else:
            where = "the root given to SchedyDB"
        return where + (", or the root given to SchedyDB" if source.endswith("with config_override") else "")

    def _unreachable(self, method: str, path: str, failure: Exception, what: str) -> HTTPError:
        cause = failure.__cause__ or failure
        hint = ""
        if not self._https and isinstance(cause, http.client.RemoteDisconnected):
            # What a service serving HTTPS (schedy server --tls-cert) does with a plain-HTTP request.
            hint = " If the service serves HTTPS (started with --tls-cert), its root is https://, not http://."
        through = f" through {self._proxy.said()}" if self._proxy is not None else ""
        return HTTPError(
            f"No answer from the Schedy service at {self.config.root}{through} to {method} {path} "
            f"({type(cause).__name__}: {cause}); {what}.{hint}",
            None,
        )

    @staticmethod
    def _spent(attempt: int, max_attempts: int, started: float, pause: float, window: float) -> bool:
        """Whether to give up after the 0-based ``attempt`` failed, rather than wait ``pause`` and try again.

        Both limits must be reached: the attempts, and the window (the time, not the count, is what rides
        out an outage: a service asking to be retried every 2 s would otherwise be given up on after 18 s).
        """
        return attempt + 1 >= max_attempts and time.monotonic() - started + pause > window

    def _retry_after(self, headers: HeaderLookup, attempt: int) -> float:
        """The wait before the next try: the answer's ``Retry-After`` (within the policy's bounds), or the backoff."""
        value = headers.get("Retry-After")
        if value is not None:
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan  # an HTTP date: fall back to our own backoff
            if math.isfinite(seconds):
                # Never 0: a window of retries with no pause between them would hammer the service.
                return min(self.retry.max_backoff, max(self.retry.backoff, seconds))
        return self.retry.delay(attempt)

    # -- authentication ---------------------------------------------------

    def _current_token(self, attempts: int | None = None) -> _Token:
        """The JWT to send, renewed first if it is due (the login tried ``attempts`` times, as the request)."""
        token = self._token
        if token is not None and (token.deadline is None or time.monotonic() < token.deadline):
            return token
        return self._renew(token) if attempts is None else self._renew(token, attempts)

    def _forget_token(self, token: _Token | None) -> None:
        self._check_fork()
        with self._auth_lock:
            if self._token is token:
                self._token = None

    def _check_fork(self) -> None:
        """New locks in a forked child (should :func:`os.register_at_fork` not have given them already)."""
        if self._locks_pid != os.getpid():
            self._new_locks()

    def _renew(self, stale: _Token | None, attempts: int | None = None) -> _Token:
        """A new JWT in place of ``stale``: this thread logs in, or waits for the one that already does.

        The lock is never held while the login is sent (its retries may last a minute during an outage): a
        process forked meanwhile would otherwise inherit it held, and hang at its first request.
        """
        self._check_fork()
        with self._auth_lock:
            while True:
                current = self._token
                if current is not None and current is not stale:
                    return current  # another thread renewed it meanwhile
                if not self._renewing:
                    self._renewing = True
                    break
                self._renewed.wait()  # another thread logs in; if it fails, this one tries in turn
        token: _Token | None = None
        try:
            token = self._log_in(attempts)
        finally:
            with self._auth_lock:
                self._renewing = False
                if token is not None:
                    self._token = token
                self._renewed.notify_all()
        return token

    def _log_in(self, attempts: int | None) -> _Token:
        """Exchange the API token (or password) for a JWT."""
        config = self.config
        path = config.auth_path
        sent = time.monotonic()  # the token is issued after this: its lifetime counts from here, at the latest
        try:
            answer = self.request(
                "POST", path, {"email": config.email, "token": config.token}, authenticate=False, attempts=attempts
            ).json()
        except HTTPError as exc:
            if isinstance(exc, ServiceUnreachableError) or not _foreign(exc):
                raise
            # Something answers there, but not a Schedy service's login: most likely a wrong root.
            said = str(exc.args[0] if exc.args else exc).rstrip()
            exc.args = (f"{said}{'' if said.endswith(('.', '?', '!')) else '.'} {self._wrong_root()}",)
            raise
        jwt = answer.get("token") if isinstance(answer, dict) else None
        expires_at = answer.get("expiresAt") if isinstance(answer, dict) else None
        if not isinstance(jwt, str) or isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
            raise UnhandledResponseError(f"POST {path} answered without token and expiresAt. {self._wrong_root()}", 200)
        granted = _granted_lifetime(jwt, expires_at)
        if granted is not None:
            # The service's own clock tells how long the token lasts; this machine's monotonic clock
            # measures it, whatever its wall clock says (a clock ahead would otherwise renew early, or
            # on every request).
            return _Token(jwt, sent + granted - min(_RENEW_MARGIN, granted / 10))
        # A token that does not say when it was issued: its expiry by this machine's clock.
        lifetime = expires_at - time.time()
        deadline: float | None = time.monotonic() + lifetime - min(_RENEW_MARGIN, lifetime / 10)
        if lifetime <= 1:
            # Our clock is ahead of the service's: renewing "before
            # expiry" would mean renewing before every request. Use the
            # token until the service answers 401 instead.
            logger.warning("The Schedy JWT expires in %.0f s by this machine's clock; check the clock.", lifetime)
            deadline = None
        return _Token(jwt, deadline)


def _granted_lifetime(jwt: str, expires_at: float) -> float | None:
    """The seconds a session token was granted for: its ``exp`` minus its ``iat`` claim, both by the service's clock.

    ``None`` when the token is not a JWT that tells both (its signature is the
    service's business, not checked here), or its ``exp`` is not the answer's
    ``expiresAt``.
    """
    try:
        payload = jwt.split(".")[1]
        claims = _encoding.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        issued, expires = claims["iat"], claims["exp"]
    except (IndexError, KeyError, TypeError, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    numbers = (int, float)
    if isinstance(issued, bool) or isinstance(expires, bool):
        return None
    if not isinstance(issued, numbers) or not isinstance(expires, numbers) or abs(expires - expires_at) > 1:
        return None
    lifetime = float(expires - issued)
    return lifetime if math.isfinite(lifetime) and lifetime > 0 else None


def _foreign(error: HTTPError) -> bool:
    """Whether an error answer to the login came from something else than a Schedy service.

    A Schedy service has a login route (so no 404 or 405 there) and answers
    every error with a JSON problem; an HTML page or plain text is another
    web server's. No answer at all (``code`` None) says nothing about who is there.
    """
    if error.code is None:
        return False
    if isinstance(error, UnhandledResponseError) or error.code in (404, 405):
        return True
    try:
        problem = _encoding.loads(error.body.encode()) if error.body else None
    except ValueError:
        return True
    return not isinstance(problem, dict)


def _alive(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


def _close_all(pool: _Pool) -> None:
    with pool.lock:
        closing = [c for _, c in pool.conns]
        pool.conns.clear()
    for conn in closing:
        conn.close()


#: Every live transport, to be given new locks in a forked child.
_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    for transport in list(_TRANSPORTS):
        transport._new_locks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)
