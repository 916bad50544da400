"""Settings of one service process, resolved once at start and injected."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8700
DEFAULT_HOST = "127.0.0.1"


def data_dir() -> Path:
    """Schedy's data directory: ``$SCHEDY_HOME`` or ``~/.schedy``.

    A ``~`` that the shell left in the variable (``SCHEDY_HOME='~/lab'``, or a systemd unit's
    ``Environment=``) is the home directory, as for ``schedy gen-token`` and the client: not a
    directory named ``~`` under the working directory.
    """
    return Path(os.environ.get("SCHEDY_HOME") or Path.home() / ".schedy").expanduser()


def private_dir(path: Path) -> Path:
    """Create the directory ``path`` (and its parents) if missing; the directory itself readable by its owner only.

    Schedy's data directory holds the database (password hashes, the signing
    secret), the client configuration (an API token) and artifacts: 0700, as
    its files are 0600. An existing directory keeps its mode.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class DataDirectoryUnusable(Exception):
    """The data directory (or a SQLite file's directory) cannot be created, entered or written; one sentence."""


def usable_data_dir(path: Path, what: str = "data directory") -> Path:
    """:func:`private_dir` ``path``, then check that this user may enter and write it.

    ``what`` names the directory in the sentence: the data directory, or the directory of a
    ``--database`` file elsewhere.

    Raises:
        DataDirectoryUnusable: it cannot be created (a parent this user may not enter or write, a file of
            that name), or exists but may not be entered or written; the sentence names it.

    """
    elsewhere = (
        "set SCHEDY_HOME to a directory this user may write"
        if what == "data directory"
        else "give --database a file in a directory this user may write"
    )
    try:
        private_dir(path)
    except OSError as exc:
        raise DataDirectoryUnusable(
            f"Cannot create the {what} {path} ({exc.strerror or exc}): create it for this user, or {elsewhere}."
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirectoryUnusable(
            f"Cannot use the {what} {path} (Permission denied: this user may not enter or write it): give it to "
            f"this user (chown, chmod u+rwx), or {elsewhere}."
        )
    return path


def default_database_url() -> str:
    """``$SCHEDY_DATABASE_URL``, or the SQLite file in the data directory."""
    url = os.environ.get("SCHEDY_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'schedy.db'}"


def default_client_config_path() -> Path:
    """``$SCHEDY_CONFIG`` (a leading ``~`` expanded) or ``client.json`` in the data directory."""
    return Path(os.environ.get("SCHEDY_CONFIG") or data_dir() / "client.json").expanduser()


@dataclass(frozen=True)
class Settings:
    """How one service process runs.

    Attributes:
        database_url: SQLAlchemy URL; ``sqlite:///path`` or ``postgresql://…``.
        public_url: the root URL clients should use (``resettoken/`` answers
            it); ``None`` means the URL each request came in on.
        jwt_ttl: lifetime of session tokens, seconds.
        max_body_bytes: larger request bodies are refused with 413.
        page_size: default page size of lists; ``max_page_size`` caps ``?limit``.
        max_wait: cap of the long-poll ``wait`` option of ``nextjob``, seconds.
        pool_size: database connections per process.
        lease_sweep_interval: seconds between two sweeps for lapsed leases
            (0 turns this process's sweep off).
        header_timeout: seconds a client has to send a request's headers (from connecting, or from
            the request's first byte), and the longest pause in a request's body; then the
            connection is closed.
        lease_grace: seconds a lease may be overdue before the sweep ends its
            job: rides out heartbeats lost to service downtime or a network
            partition (see docs/reliability.md). The grace of every process
            serving the database: stored in it at start (the last process
            started with one wins); ``None`` uses the stored one (0 if none).
        artifacts_url: where artifacts' bytes go: a directory or any fsspec
            URL (``s3://bucket/prefix``); ``None`` is the data directory's
            ``artifacts/`` (see docs/artifacts.md).
        max_artifact_bytes: the largest artifact accepted (413 above it).
        artifact_quota_bytes: bytes of artifacts one user may keep (413 above it).

    """

    database_url: str
    public_url: str | None = None
    jwt_ttl: int = 3600
    max_body_bytes: int = 1 << 20
    page_size: int = 100
    max_page_size: int = 5000
    max_wait: float = 60.0
    pool_size: int = 8
    lease_sweep_interval: float = 1.0
    lease_grace: float | None = None
    header_timeout: float = 10.0
    artifacts_url: str | None = None
    max_artifact_bytes: int = 10 << 30
    artifact_quota_bytes: int = 100 << 30
