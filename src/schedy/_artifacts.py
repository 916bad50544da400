"""Artifacts of jobs on the client side: files streamed to and from the service.

Transfers never hold a file in memory. An upload sends its headers with
``Expect: 100-continue``, so that a refusal (no such job, over the size
limit or the quota) arrives before any of the body is sent, then the file
with ``socket.sendfile`` while a helper thread computes its SHA-256, and
ends the body with that SHA-256 in 64 hexadecimal digits
(``X-Schedy-Sha256: trailing``): the service refuses a body that differs,
and the file is read about once, not hashed first and sent after. Before
that SHA-256, one ``stat`` tells whether the file changed while it was sent
(its size, its modification time, the file its path names): if so the body
is left unfinished and the connection closed, so the service discards it. A
download is written to a temporary file next to its destination, hashed
in a helper thread as it arrives, checked against the service's
``X-Schedy-Sha256`` and only then renamed to its destination, so a
destination never holds half a file.

Each transfer uses a connection of its own (the thread's keep-alive
connection stays free for heartbeats and reports), the transport's session
token (renewed once on 401) and its retry policy for failures in transit.
It is opened as the transport opens its own: through the proxy that
``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` name, if any.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schedy import _routes
from schedy._pagination import iter_items
from schedy._transport import USER_AGENT, Response, Transport, problem_message, raise_for, untrusted
from schedy.errors import ClientRequestError, HTTPError, UnhandledResponseError

__all__ = ["Artifact", "by_job", "check_name", "delete", "download", "experiment_listing", "listing", "upload"]

logger = logging.getLogger("schedy")

_CHUNK = 1 << 20
_SHA256_HEADER = "X-Schedy-Sha256"
#: The SHA-256 (64 hexadecimal digits) that ends an upload's body after the file.
_TRAILER = 64
#: How long an upload waits for ``100 Continue`` before sending its body anyway.
_CONTINUE_WAIT = 10.0
#: An artifact's name (the service's rule too): one plain file name; not starting with '.' (hidden, or a path's
#: "..") nor with '-', '=' or '+' (a name starting with '-' would read as an option of ``schedy artifact get``).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._=+-]{0,199}")
_RETRY_STATUSES = frozenset((502, 503, 504))


@dataclass(frozen=True)
class Artifact:
    """A file stored with a job.

    Attributes:
        name: its name within the job.
        size: bytes.
        sha256: the SHA-256 of its content, in hexadecimal.
        created_at: when it was stored (the service's clock).

    """

    name: str
    size: int
    sha256: str
    created_at: datetime | None

    @classmethod
    def _from_wire(cls, data: Any) -> Artifact:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise UnhandledResponseError(f"Expected an artifact, got {str(data)[:200]}", None)
        created = data.get("createdAt")
        return cls(
            data["name"],
            int(data.get("size") or 0),
            str(data.get("sha256") or ""),
            datetime.fromisoformat(created) if isinstance(created, str) else None,
        )


def check_name(name: str, *, file: Path | None = None) -> str:
    """Refuse a name the service would refuse (and that could not be a plain file name here).

    ``file``: the name is that file's, not given: the error then says to name it, and suggests a name.
    """
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    rule = "1 to 200 ASCII letters, digits, '.', '_', '=', '+' or '-', starting with a letter, a digit or '_'"
    if file is not None:
        suggested = re.sub(r"[^A-Za-z0-9._=+-]", "_", name).lstrip(".=+-")[:200] or "artifact"
        raise ValueError(
            f"The file name {name!r} cannot name an artifact ({rule}): name it (name= in Python, --name on the "
            f"command line), e.g. {suggested!r}."
        )
    raise ValueError(f"An artifact name is {rule} (no '/'), got {name!r}.")


def _path(job_path: str, name: str) -> str:
    return f"{job_path}artifacts/{_routes.quote_segment(name)}/"


def _sha256(stream: io.RawIOBase, limit: int, stop: threading.Event) -> tuple[str, int]:
    """SHA-256 and size of the first ``limit`` bytes of ``stream``; stops early, with a partial digest, on ``stop``."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while not stop.is_set():
        want = min(_CHUNK, limit - size)
        n = stream.readinto(view[:want]) if want else 0
        if not n:
            break
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def _not_regular(file: Path) -> ValueError:
    return ValueError(
        f"{str(file)!r} is not a regular file (a device, a pipe, a socket, or a file made up as it is read, as in "
        "/proc): an artifact is a regular file's content, so copy it into a file first and save that."
    )


def _changed(file: Path, before: os.stat_result, sent: int) -> str | None:
    """How ``file`` changed since ``before`` (it was opened), of which ``sent`` bytes were sent; ``None``: it did not.

    Its size, its modification time and which file the path names: one ``stat``, no second pass over the data.
    """
    try:
        now = os.stat(file)
    except OSError:
        return "it was deleted or moved"
    if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
        return "another file replaced it"
    if now.st_size != before.st_size:
        return f"{before.st_size} bytes when it started, {now.st_size} now"
    if now.st_mtime_ns != before.st_mtime_ns or sent != before.st_size:
        return "it was written to"
    return None


def _changed_error(file: Path, how: str) -> ValueError:
    return ValueError(
        f"{str(file)!r} changed while it was uploaded ({how}), so nothing was saved: save it once it is complete."
    )


def _connect(transport: Transport) -> http.client.HTTPConnection:
    """An open connection of the transfer's own, as the transport opens its: through its proxy, if any.

    Through an HTTP proxy, an ``http://`` root's requests name the whole URL (:func:`_target`) and carry
    the proxy's headers (:func:`_proxy_headers`); an ``https://`` root's go through a ``CONNECT`` tunnel,
    TLS end to end with the service's certificate checked as without a proxy.
    """
    conn = transport._new_connection()
    try:
        conn.connect()
    except ssl.SSLCertVerificationError as exc:
        conn.close()
        raise untrusted(transport.config.root, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _target(transport: Transport, target: str) -> str:
    """The request line's target: absolute (``http://host:port/…``) through an HTTP proxy."""
    return transport._request_target(target)


def _proxy_headers(transport: Transport) -> dict[str, str]:
    """The headers for the proxy an ``http://`` root's requests go through (``Proxy-Authorization``)."""
    proxy = transport._proxy
    if proxy is None or transport._https:  # (a tunnel's proxy got them with CONNECT)
        return {}
    return dict(proxy.headers)


def _read_answer(sock: socket.socket, method: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
        return response.status, response.msg, response.read()
    finally:
        response.close()


def _wait_for_continue(sock: socket.socket) -> bool:
    """After headers with ``Expect: 100-continue``: ``True`` to send the body, ``False`` if a final answer came."""
    readable, _, _ = select.select([sock], [], [], _CONTINUE_WAIT)
    if not readable:
        return True  # a server that ignores Expect: send the body anyway (RFC 9110)
    head = sock.recv(12, socket.MSG_PEEK)
    if not head.startswith(b"HTTP/1.1 100") and not head.startswith(b"HTTP/1.0 100"):
        return False
    seen = b""
    while not seen.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("The connection closed after 100 Continue.")
        seen += byte
    return True


def _put_file(
    transport: Transport, target: str, file: Path, authorization: str
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send the file with its SHA-256 after it (``X-Schedy-Sha256: trailing``), hashed while it is sent.

    A file that changed while it was sent (its size, its modification time, or the file its path names)
    is not ended with its SHA-256: the connection is closed short of the body's end, so the service
    discards what arrived, and the error says the file changed.
    """
    try:
        stream = file.open("rb")
    except FileNotFoundError:  # (an OSError: it would be retried as a failure in transit)
        raise _changed_error(file, "it was deleted or moved") from None
    with stream, file.open("rb", buffering=0) as hashed_stream:
        before = os.fstat(stream.fileno())
        other = os.fstat(hashed_stream.fileno())
        if (other.st_dev, other.st_ino) != (before.st_dev, before.st_ino):
            raise _changed_error(file, "another file replaced it")
        size = before.st_size
        conn = _connect(transport)
        try:
            conn.putrequest("PUT", _target(transport, target), skip_accept_encoding=True)
            for name, value in (
                *_proxy_headers(transport).items(),
                ("Authorization", authorization),
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(size + _TRAILER)),
                (_SHA256_HEADER, "trailing"),
                ("Accept", "application/json"),
                ("User-Agent", USER_AGENT),
            ):
                conn.putheader(name, value)
            plain = isinstance(conn.sock, socket.socket) and not transport._https
            if plain:  # (peeking at the answer needs a plain socket)
                conn.putheader("Expect", "100-continue")
            conn.endheaders()
            sock = conn.sock
            assert sock is not None  # noqa: S101 - connected above
            if not plain or _wait_for_continue(sock):
                # The hash reads the file from the page cache in a helper thread while the kernel sends it
                # (hashlib releases the GIL): the upload costs about one pass over the file, not two.
                stop = threading.Event()
                with ThreadPoolExecutor(1, "schedy-artifact") as helper:
                    hashing = helper.submit(_sha256, hashed_stream, size, stop)
                    try:
                        sent = sock.sendfile(stream, 0, size) if size else 0
                    except OSError:
                        stop.set()
                        # The service may have answered and closed (e.g. 413 midway): read its answer if there is one.
                        return _read_answer(sock, "PUT")
                    sha256, hashed = hashing.result()
                # Checked before the body's end: a changed file's upload is left short of its SHA-256, and the
                # connection closed below, so the service discards it (as it does any upload cut short).
                how = _changed(file, before, min(sent, hashed))
                if how is not None:
                    raise _changed_error(file, how)
                try:
                    sock.sendall(sha256.encode("ascii"))
                except OSError:
                    return _read_answer(sock, "PUT")
            status, headers, data = _read_answer(sock, "PUT")
            if status == 400:  # changed just after the check (the kernel may still have been sending its pages)
                how = _changed(file, before, size)
                if how is not None:
                    raise _changed_error(file, how)
            return status, headers, data
        finally:
            conn.close()


def _with_retries(transport: Transport, method: str, path: str, exchange: Any) -> Any:
    """Run ``exchange(authorization)`` with the transport's token and retry policy."""
    attempt = 0
    reauthenticated = False
    while True:
        token = transport._current_token()
        try:
            result = exchange(token.header)
        except (OSError, http.client.HTTPException) as exc:
            if attempt + 1 >= transport.retry.attempts:
                raise HTTPError(
                    f"No answer from the Schedy service at {transport.config.root} to {method} {path} "
                    f"({type(exc).__name__}: {exc}); gave up after {attempt + 1} attempts.",
                    None,
                ) from exc
            logger.warning("Transfer %s %s failed (%s); retrying.", method, path, exc)
            time.sleep(transport.retry.delay(attempt))
            attempt += 1
            continue
        status = result[0]
        if status == 401 and not reauthenticated:
            reauthenticated = True
            transport._forget_token(token)
            continue
        if status in _RETRY_STATUSES and attempt + 1 < transport.retry.attempts:
            time.sleep(transport.retry.delay(attempt))
            attempt += 1
            continue
        return result


def upload(transport: Transport, job_path: str, file: str | os.PathLike[str], name: str | None) -> Artifact:
    """Store ``file`` as the job's artifact ``name`` (default: the file's name)."""
    source = Path(file)
    if source.is_dir():
        raise IsADirectoryError(
            f"{str(source)!r} is a directory: an artifact is one file; save an archive of it "
            "(`tar -czf model.tar.gz DIR`, or shutil.make_archive in Python)."
        )
    if not source.exists():
        raise FileNotFoundError(f"No file to save as an artifact at {str(source)!r}.")
    if not source.is_file():  # (opening a FIFO would wait for a writer)
        raise _not_regular(source)
    name = check_name(source.name, file=source) if name is None else check_name(name)
    with source.open("rb") as probe:  # a file we may not read is said so now, not retried as a network failure
        # A file of /proc says it has 0 bytes, and has some: it would be stored empty.
        if os.fstat(probe.fileno()).st_size == 0 and probe.read(1) and os.fstat(probe.fileno()).st_size == 0:
            raise _not_regular(source)
    path = _path(job_path, name)
    target = transport._base + path

    def exchange(authorization: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        return _put_file(transport, target, source, authorization)

    status, headers, data = _with_retries(transport, "PUT", path, exchange)
    response = Response(status, headers, data, False)
    if status != 201:
        raise_for(response, "PUT", path)
    return Artifact._from_wire(response.json())


def _destination(name: str, to: str | os.PathLike[str] | None) -> Path:
    if to is None:
        return Path.cwd() / name
    target = Path(to)
    # A directory: one that exists, or a path written with a trailing separator ("models/"), created.
    if target.is_dir() or os.fspath(to).endswith(("/", os.sep)):
        return target / name
    return target


def _check_directory(to: str | os.PathLike[str], directory: Path, *, create: bool) -> None:
    """Make sure ``directory`` (where the download of ``to`` goes) exists; create it only when ``create``.

    Only a destination written as a directory ("models/") has its directories created: a file's
    missing directory is most often a typo (``-o /data/modles/best.pt``), which would otherwise
    quietly make a new tree.

    Raises:
        NotADirectoryError: a part of the path is a file.
        FileNotFoundError: the file's directory does not exist.

    """
    if directory.is_dir():
        return
    shown = os.fspath(to)
    ancestor = directory
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise NotADirectoryError(f"Cannot write {shown}: {ancestor} is not a directory.")
    if not create:
        raise FileNotFoundError(f"Cannot write {shown}: No such file or directory.")  # as ``schedy export -o`` says
    directory.mkdir(parents=True, exist_ok=True)


class _LocalWriteError(Exception):
    """Writing the download's destination failed: a local problem, reported as such and never retried."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def download(transport: Transport, job_path: str, name: str, to: str | os.PathLike[str] | None) -> Path:
    """Write the job's artifact ``name`` to ``to`` (default: ``./NAME``; a directory: ``DIR/NAME``).

    A symbolic link is written through (its target gets the file; the link stays); a FIFO, a device or a
    socket is written into as the bytes arrive, not replaced by a regular file.
    """
    name = check_name(name)
    given = _destination(name, to)
    destination = given.resolve() if given.is_symlink() else given
    if to is not None:
        _check_directory(to, destination.parent, create=os.fspath(to).endswith(("/", os.sep)))
    path = _path(job_path, name)
    target = transport._base + path

    def exchange(authorization: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = _connect(transport)
        try:
            conn.request(
                "GET",
                _target(transport, target),
                headers={
                    **_proxy_headers(transport),
                    "Authorization": authorization,
                    "Accept": "application/octet-stream",
                    "User-Agent": USER_AGENT,
                },
            )
            response = conn.getresponse()
            if response.status != 200:
                return response.status, response.msg, response.read()
            expected = response.getheader(_SHA256_HEADER) or ""
            _receive(response, destination, expected, name)
            return 200, response.msg, b""
        finally:
            conn.close()

    try:
        status, headers, data = _with_retries(transport, "GET", path, exchange)
    except _LocalWriteError as exc:
        raise exc.error from None
    if status != 200:
        raise_for(Response(status, headers, data, False), "GET", path)
    return given


def _fill(response: http.client.HTTPResponse, view: memoryview) -> int:
    """Read into ``view`` until it is full or the body ends; how many bytes."""
    got = 0
    while got < len(view):
        n = response.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _receive(response: http.client.HTTPResponse, destination: Path, expected: str, name: str) -> None:
    """Write the body to a temporary file next to ``destination``, check its SHA-256, rename it into place.

    Two buffers: while one MiB is hashed and written in a helper thread, the
    next is received (the socket read, ``hashlib`` on large buffers and file
    writes all release the GIL), so the transfer costs about the slower of
    receiving and hashing, not their sum. A destination that is not a regular
    file (a FIFO, a device) is written into directly, checked at the end.

    Raises:
        _LocalWriteError: the destination (or the file next to it) could not be written.

    """
    direct = destination.exists() and not destination.is_file()
    partial = destination if direct else destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    views = [memoryview(bytearray(_CHUNK)), memoryview(bytearray(_CHUNK))]

    def consume(out: io.RawIOBase, data: memoryview) -> None:
        digest.update(data)
        while data:
            written = out.write(data)
            data = data[written or 0 :]

    try:
        try:
            out = partial.open("wb", buffering=0)
        except OSError as exc:
            raise _LocalWriteError(exc) from exc
        with out, ThreadPoolExecutor(1, "schedy-artifact") as helper:
            pending: Future[None] | None = None
            turn = 0
            while True:
                view = views[turn % 2]  # the helper finished with it: waited for below, a turn ago
                try:
                    n = _fill(response, view)  # a failure here is the network's: retried
                except (OSError, http.client.HTTPException) as exc:
                    if direct and turn:  # sending it all again would write it twice into the pipe or device
                        raise HTTPError(
                            f"The connection to the Schedy service was lost after part of the artifact {name!r} "
                            f"was written to {str(destination)!r}; not retried ({type(exc).__name__}: {exc}).",
                            None,
                        ) from exc
                    raise
                if pending is not None:
                    _written(pending)
                    pending = None
                if not n:
                    break
                pending = helper.submit(consume, out, view[:n])
                turn += 1
        if digest.hexdigest() != expected:
            written = f"; it was written to {str(destination)!r} as it came" if direct else ", and was not written"
            raise UnhandledResponseError(
                f"The artifact {name!r} arrived with SHA-256 {digest.hexdigest()}, not the {expected} the service "
                f"stored: it was damaged in transit or in storage{written}.",
                200,
            )
        if not direct:
            try:
                os.replace(partial, destination)
            except OSError as exc:
                raise _LocalWriteError(exc) from exc
    finally:
        if not direct:
            partial.unlink(missing_ok=True)


def _written(pending: Future[None]) -> None:
    """Wait for a chunk's write; a failure is the destination's (a full disk, a closed pipe)."""
    try:
        pending.result()
    except OSError as exc:
        raise _LocalWriteError(exc) from exc


def listing(transport: Transport, job_path: str) -> list[Artifact]:
    """The job's artifacts, by name."""
    answer = transport.request("GET", f"{job_path}artifacts/").json()
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise UnhandledResponseError(f"Expected a list of artifacts, got {str(answer)[:200]}", 200)
    return [Artifact._from_wire(item) for item in items]


def delete(transport: Transport, job_path: str, name: str) -> None:
    """Delete the job's artifact ``name``.

    Raises:
        schedy.errors.ClientRequestError: the job has no artifact of that name (code 404, as ever: the
            service answers a plain DELETE of an absent artifact 204, so ``If-Match: *`` asks it to say).

    """
    path = _path(job_path, check_name(name))
    response = transport.request("DELETE", path, headers={"If-Match": "*"}, expect=(204, 412))
    if response.status == 412 and not response.replayed:  # a replay's 412: the first attempt deleted it
        error = ClientRequestError(response.data.decode("utf-8", errors="replace"), 404)
        error.args = (problem_message(404, response.data, "DELETE", path),)
        raise error


def by_job(transport: Transport, experiment: str) -> dict[str, list[Artifact]]:
    """Every artifact of the experiment's jobs, by job id (jobs without any are absent), each list by name.

    A service older than artifacts answers 404 for the list: it has none
    (a missing experiment is still 404).
    """
    exp_path = _routes.experiment(experiment)
    out: dict[str, list[Artifact]] = {}
    try:
        for item in iter_items(transport, exp_path + "artifacts/"):
            out.setdefault(str(item.get("job")), []).append(Artifact._from_wire(item))
    except ClientRequestError as exc:
        if exc.code != 404:
            raise
        transport.request("GET", exp_path)  # still 404 when the experiment itself is missing: say so
        return {}
    for artifacts in out.values():
        artifacts.sort(key=lambda a: a.name)
    return out


def experiment_listing(transport: Transport, experiment: str) -> dict[str, list[dict[str, Any]]]:
    """Every artifact of the experiment's jobs, by job id: ``{"name", "size", "sha256", "url"}`` each, by name.

    ``url`` is where to download it (``GET`` with the user's token, as
    :meth:`schedy.Job.load_artifact` does).
    """
    exp_path = _routes.experiment(experiment)
    root = transport.config.root
    return {
        job: [
            {
                "name": artifact.name,
                "size": artifact.size,
                "sha256": artifact.sha256,
                "url": root + _path(_routes.job(exp_path, job), artifact.name),
            }
            for artifact in artifacts
        ]
        for job, artifacts in by_job(transport, experiment).items()
    }
