"""Blob stores: where artifacts' bytes live, a directory or any fsspec filesystem.

:func:`blob_store` opens the store of ``schedy server --artifacts URL`` and
checks it can be used, so a service with an unusable store says so in one
sentence at start (:class:`ArtifactsUnavailable`) instead of at the first
upload. At run time, :class:`Guarded` turns a store's failure (a full disk,
S3 refusing the credentials, a network cut) into
:class:`schedy.server.errors.StorageUnavailable`: a 503 with one sentence,
which clients retry, never a 500. Nothing is visible until a blob is
committed and its row inserted (:mod:`schedy.server.service.artifacts`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from schedy.server.errors import StorageUnavailable
from schedy.server.settings import private_dir

__all__ = [
    "STALE_UPLOAD",
    "ArtifactsUnavailable",
    "BlobStore",
    "BlobWriter",
    "FsspecBlobs",
    "Guarded",
    "LocalBlobs",
    "blob_store",
]

logger = logging.getLogger("schedy.server.artifacts")

#: Temporary files of the local store older than this (seconds without a write) are removed at start.
STALE_UPLOAD = 3600.0


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
    """Blobs as files under a directory: written to ``tmp/``, then renamed into ``blobs/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        private_dir(root)
        (root / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / "blobs").mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        return self.root / "blobs" / key

    def writer(self, key: str) -> BlobWriter:
        """Write ``tmp/KEY.part``; :meth:`BlobWriter.commit` renames it into place."""
        return _LocalWriter(self.root / "tmp" / f"{key.replace('/', '_')}.part", self._path(key))

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

    A missing blob stays :class:`FileNotFoundError` (a 404 for the caller to word); every other
    failure of the store is logged with its traceback for the administrator and reported to the
    client without the store's address.
    """

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.description = inner.description

    @contextlib.contextmanager
    def failing(self, action: str) -> Any:
        """Report a failure of the store, inside the block, as :class:`StorageUnavailable`."""
        try:
            yield
        except FileNotFoundError:
            raise
        except Exception as exc:
            logger.warning("The artifact store %s failed to %s a blob", self.description, action, exc_info=True)
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
        private_dir(data_dir)
        store: BlobStore = LocalBlobs(data_dir / "artifacts")
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
    except Exception as exc:
        where = str(data_dir / "artifacts") if url is None else url
        raise ArtifactsUnavailable(
            f"Cannot store artifacts in {where} ({_reason(exc)}): give --artifacts a directory this user can "
            "write, or an fsspec URL whose package is installed and credentials set (docs/artifacts.md)."
        ) from None
