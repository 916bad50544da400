"""Blob stores: where artifacts' bytes live, a directory or any fsspec filesystem.

:func:`blob_store` opens the store of ``schedy server --artifacts URL`` and
checks it can be used, so a service with an unusable store says so in one
sentence at start (:class:`ArtifactsUnavailable`) instead of at the first
upload. At run time, :class:`Guarded` turns a store's failure (a full disk,
S3 refusing the credentials, a network cut) into
:class:`schedy.server.errors.StorageUnavailable`: a 503 with one sentence
and ``Retry-After``, which clients retry, never a 500; the log gets one
warning a minute per kind of failure, not a traceback per request (it may
share the full disk). Nothing is visible until a blob is committed and its
row inserted (:mod:`schedy.server.service.artifacts`).

The local store makes its ``tmp/`` and ``blobs/`` directories again when
they are gone (the store's directory deleted under a running service), so
uploads go on; the files of artifacts stored before are lost with them,
which a download then says (:meth:`~schedy.server.service.artifacts.Artifacts.open_checked`).

**Identity.** Each store holds a marker, the file ``schedy-store-id`` at its
root (:data:`MARKER`), with a random id that a service writes at its first
start on the store (:meth:`BlobStore.mark`); the database records the id of
the store its artifacts are written to, so that a process given another store
says so rather than call the files lost (:mod:`schedy.server.service.artifacts`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from schedy.server.errors import StorageUnavailable
from schedy.server.settings import DataDirectoryUnusable, private_dir, usable_data_dir

__all__ = [
    "STALE_UPLOAD",
    "ArtifactsUnavailable",
    "BlobStore",
    "BlobWriter",
    "FAILURE_LOG_EVERY",
    "FsspecBlobs",
    "Guarded",
    "LocalBlobs",
    "MARKER",
    "blob_store",
    "log_now",
]

logger = logging.getLogger("schedy.server.artifacts")

#: The file at a store's root holding its id (:meth:`BlobStore.identity`).
MARKER = "schedy-store-id"
#: The longest id read from a marker (a marker is 32 hexadecimal digits; anything longer was not written by Schedy).
_MAX_ID = 64

#: Temporary files of the local store older than this (seconds without a write) are removed at start.
STALE_UPLOAD = 3600.0
#: Each kind of failure of the store is logged at most once per this many seconds (the log may share its disk).
FAILURE_LOG_EVERY = 60.0
#: When each kind of failure was last logged in this process (monotonic seconds), and how many went unsaid since.
_LOGGED_AT: dict[str, float] = {}
_UNSAID: dict[str, int] = {}


def log_now(kind: str) -> int | None:
    """Whether a failure of ``kind`` should be logged now: ``None`` if not, else how many went unlogged before it.

    At most one line per :data:`FAILURE_LOG_EVERY` seconds for each kind, in this process.
    """
    now = time.monotonic()
    if now - _LOGGED_AT.get(kind, -FAILURE_LOG_EVERY) < FAILURE_LOG_EVERY:
        _UNSAID[kind] = _UNSAID.get(kind, 0) + 1
        return None
    _LOGGED_AT[kind] = now
    return _UNSAID.pop(kind, 0)


class ArtifactsUnavailable(Exception):
    """``--artifacts`` names a store the service cannot use; the message says why and what to do."""


class BlobWriter(ABC):
    """One blob being written; nothing is visible until :meth:`commit`."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append bytes."""

    @abstractmethod
    def commit(self) -> None:
        """Finish the blob: it now exists under its key."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was written."""


class BlobStore(ABC):
    """Where artifacts' bytes live, under keys the service makes up."""

    #: Shown in logs and docs: where the blobs are.
    description: str

    @property
    def where(self) -> str:
        """Where the store is, for another host's log: its URL, or its directory and this host's name."""
        return self.description

    @abstractmethod
    def writer(self, key: str) -> BlobWriter:
        """Start writing a new blob under ``key``."""

    @abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """Open a blob for reading; :class:`FileNotFoundError` if it is gone."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete a blob; a missing one is no error."""

    def clean(self) -> None:  # noqa: B027 - optional hook
        """Remove what interrupted uploads left behind (called once at start)."""

    @abstractmethod
    def identity(self) -> str | None:
        """The id in the store's marker file (:data:`MARKER`), ``None`` if it has none."""

    @abstractmethod
    def mark(self, identity: str) -> str:
        """Write ``identity`` into the store's marker unless it has one; the id the marker then holds."""


class _LocalWriter(BlobWriter):
    def __init__(self, temporary: Path, final: Path) -> None:
        self._temporary, self._final = temporary, final
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.close()
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temporary, self._final)

    def abort(self) -> None:
        self._file.close()
        self._temporary.unlink(missing_ok=True)


class LocalBlobs(BlobStore):
    """Blobs as files under a directory: written to ``tmp/``, then renamed into ``blobs/``.

    Its directories are made again if they are deleted while the service runs (see the module's docstring).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        self._identity: str | None = None  # once marked: written again if the directory is made again
        self._make_directories()

    @property
    def where(self) -> str:
        """The directory, and the host it is on (another host's directory of the same name is another store)."""
        return f"{self.root} on host {socket.gethostname()}"

    def _make_directories(self) -> None:
        private_dir(self.root)
        (self.root / "tmp").mkdir(exist_ok=True, mode=0o700)
        (self.root / "blobs").mkdir(exist_ok=True, mode=0o700)
        if self._identity is not None:
            self.mark(self._identity)

    def identity(self) -> str | None:
        """The id in ``ROOT/schedy-store-id``."""
        try:
            text = (self.root / MARKER).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        return text.strip()[:_MAX_ID] or None

    def mark(self, identity: str) -> str:
        """Create ``ROOT/schedy-store-id`` (exclusively: of two processes marking a new store, the first wins)."""
        try:
            fd = os.open(self.root / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(identity + "\n")
        self._identity = self.identity() or identity
        return self._identity

    def _path(self, key: str) -> Path:
        return self.root / "blobs" / key

    def writer(self, key: str) -> BlobWriter:
        """Write ``tmp/KEY.part``; :meth:`BlobWriter.commit` renames it into place."""
        temporary, final = self.root / "tmp" / f"{key.replace('/', '_')}.part", self._path(key)
        try:
            return _LocalWriter(temporary, final)
        except FileNotFoundError:
            if (self.root / "tmp").is_dir():
                raise
        # The store's directory (or its tmp/) was deleted under the running service: make it again.
        missing = [str(path) for path in (self.root, self.root / "tmp", self.root / "blobs") if not path.is_dir()]
        self._make_directories()
        logger.warning(
            "The artifact store's directories %s were missing (deleted while the service ran?) and were made "
            "again; the files of artifacts stored before them are lost (their downloads say so).",
            ", ".join(missing),
        )
        return _LocalWriter(temporary, final)

    def open(self, key: str) -> IO[bytes]:
        """Open ``blobs/KEY``."""
        return self._path(key).open("rb", buffering=0)

    def delete(self, key: str) -> None:
        """Remove ``blobs/KEY``."""
        self._path(key).unlink(missing_ok=True)

    def clean(self) -> None:
        """Remove temporary files not written to for an hour (uploads cut short)."""
        cutoff = time.time() - STALE_UPLOAD
        for part in (self.root / "tmp").glob("*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
            except FileNotFoundError:
                pass  # another process cleaned it


class _FsspecWriter(BlobWriter):
    def __init__(self, fs: Any, path: str) -> None:
        self._fs, self._path = fs, path
        self._file = fs.open(path, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.close()

    def abort(self) -> None:
        discard = getattr(self._file, "discard", None)
        if discard is not None:
            discard()  # e.g. s3fs: abort the multipart upload
        else:
            self._file.close()
        with contextlib.suppress(OSError):
            self._fs.rm(self._path)


class FsspecBlobs(BlobStore):
    """Blobs on any fsspec filesystem (S3, GCS, Azure…), under ``URL/blobs/``.

    The blob only becomes an artifact once its row is inserted, after the
    file is closed (complete), so no rename is needed. Options of the
    filesystem come from fsspec's configuration, e.g. the environment
    variable ``FSSPEC_S3_ENDPOINT_URL`` for an S3-compatible server.
    """

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise ArtifactsUnavailable(
                f"--artifacts {url} needs fsspec and the filesystem's package: pip install './[fsspec]' from a "
                "checkout of this project (the package index's 'schedy' is an unrelated 2018 client), or pip install "
                "fsspec, and e.g. s3fs, gcsfs or adlfs."
            ) from None
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.description = url

    def _path(self, key: str) -> str:
        return f"{self.root}/blobs/{key}"

    def identity(self) -> str | None:
        """The id in ``URL/schedy-store-id``."""
        try:
            data: bytes = self.fs.cat_file(f"{self.root}/{MARKER}")
        except FileNotFoundError:
            return None
        return data.decode("utf-8", errors="replace").strip()[:_MAX_ID] or None

    def mark(self, identity: str) -> str:
        """Write ``URL/schedy-store-id`` unless it exists (object stores have no exclusive create: read it back)."""
        existing = self.identity()
        if existing is not None:
            return existing
        self.fs.pipe_file(f"{self.root}/{MARKER}", (identity + "\n").encode())
        return self.identity() or identity

    def writer(self, key: str) -> BlobWriter:
        """Open ``URL/blobs/KEY`` for writing (complete once closed)."""
        return _FsspecWriter(self.fs, self._path(key))

    def open(self, key: str) -> IO[bytes]:
        """Open ``URL/blobs/KEY``."""
        file: IO[bytes] = self.fs.open(self._path(key), "rb")
        return file

    def delete(self, key: str) -> None:
        """Remove ``URL/blobs/KEY``."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(key))


def _reason(exc: BaseException) -> str:
    """What went wrong, briefly: an OS error's text, else the exception's (its first line, 200 characters)."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (text.splitlines() or [type(exc).__name__])[0][:200]


class _GuardedWriter(BlobWriter):
    def __init__(self, store: Guarded, writer: BlobWriter) -> None:
        self._store, self._writer = store, writer

    def write(self, data: bytes) -> None:
        with self._store.failing("write"):
            self._writer.write(data)

    def commit(self) -> None:
        with self._store.failing("write"):
            self._writer.commit()

    def abort(self) -> None:
        with self._store.failing("clean up"):
            self._writer.abort()


class Guarded(BlobStore):
    """A blob store whose failures are :class:`~schedy.server.errors.StorageUnavailable` (503, one sentence).

    A blob missing when it is read stays :class:`FileNotFoundError` (a 404 for the caller to word);
    every other failure of the store (a missing directory while writing included) is logged for the
    administrator, one line a minute per action (the traceback at DEBUG), and reported to the client
    without the store's address.
    """

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.description = inner.description

    @property
    def where(self) -> str:
        """The inner store's."""
        return self.inner.where

    def identity(self) -> str | None:
        """The inner store's id (read at start and at a missing blob: a failure is the caller's to word)."""
        return self.inner.identity()

    def mark(self, identity: str) -> str:
        """Mark the inner store (at start: a failure is the caller's to word)."""
        return self.inner.mark(identity)

    @contextlib.contextmanager
    def failing(self, action: str) -> Any:
        """Report a failure of the store, inside the block, as :class:`StorageUnavailable`."""
        try:
            yield
        except Exception as exc:
            if isinstance(exc, FileNotFoundError) and action == "read":
                raise  # the blob is gone: the caller says why
            unsaid = log_now(action)
            if unsaid is not None:
                logger.warning(
                    "The artifact store %s failed to %s a blob (%s): such requests are answered 503 until it "
                    "works again%s.",
                    self.description,
                    action,
                    _reason(exc),
                    f"; {unsaid} more failed since the last such line" if unsaid else "",
                )
            logger.debug("The artifact store's failure to %s a blob", action, exc_info=True)
            raise StorageUnavailable(
                f"The service's artifact store could not {action} the file ({_reason(exc)}); nothing was saved "
                "or changed. Try again later, or ask the service's administrator to check its --artifacts store."
            ) from exc

    def writer(self, key: str) -> BlobWriter:
        """The inner store's writer, guarded."""
        with self.failing("write"):
            return _GuardedWriter(self, self.inner.writer(key))

    def open(self, key: str) -> IO[bytes]:
        """The inner store's blob, opened (:class:`FileNotFoundError` if it is gone)."""
        with self.failing("read"):
            return self.inner.open(key)

    def delete(self, key: str) -> None:
        """Delete the blob from the inner store."""
        with self.failing("delete"):
            self.inner.delete(key)

    def clean(self) -> None:
        """The inner store's clean-up."""
        self.inner.clean()


def _opened(url: str | None, data_dir: Path) -> BlobStore:
    """The store ``url`` names (``None``: the data directory's), once a probe blob was written and deleted."""
    if url is None:
        store: BlobStore = LocalBlobs(usable_data_dir(data_dir) / "artifacts")
    elif url.startswith("file://"):
        store = LocalBlobs(Path(url.removeprefix("file://")))
    elif "://" not in url:
        store = LocalBlobs(Path(url).expanduser())
    else:
        store = FsspecBlobs(url)
    key = f"probe/{uuid.uuid4().hex}"
    writer = store.writer(key)
    writer.write(b"")
    writer.commit()
    store.delete(key)
    return store


def blob_store(url: str | None, data_dir: Path) -> Guarded:
    """The blob store of ``--artifacts URL`` (a local directory, or any fsspec URL), checked and guarded.

    Raises:
        ArtifactsUnavailable: the URL cannot be used (an unknown protocol, a package missing, a
            directory that cannot be created or written, a store refusing a probe write).

    """
    try:
        return Guarded(_opened(url, data_dir))
    except ArtifactsUnavailable:
        raise
    except DataDirectoryUnusable as exc:  # the data directory itself, not the artifacts: say so
        raise ArtifactsUnavailable(str(exc)) from None
    except Exception as exc:
        where = str(data_dir / "artifacts") if url is None else url
        raise ArtifactsUnavailable(
            f"Cannot store artifacts in {where} ({_reason(exc)}): give --artifacts a directory this user can "
            "write, or an fsspec URL whose package is installed and credentials set (docs/artifacts.md)."
        ) from None
