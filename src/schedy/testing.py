"""Run a real, throwaway Schedy service (and PostgreSQL) in tests.

Schedy's own test suite uses these, and so can yours: your training code
talks to a real service over real HTTP, on a database that vanishes
afterwards.

Example:
    >>> with ServiceProcess.start(tmp_path) as service:  # doctest: +SKIP
    ...     db = schedy.SchedyDB(config_override=service.new_user().client_config)

"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["Credentials", "PostgresCluster", "ServiceProcess", "free_port"]


#: What ``schedy server`` prints once it listens on its port (``Schedy 1.0 (self-hosted) is serving …``).
_SERVING = "(self-hosted) is serving "


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.insert(0, Path(out))
    for candidate in candidates:
        if (candidate / "initdb").exists():
            return candidate
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found; install Debian's 'postgresql' package."
    )


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster listening on 127.0.0.1.

    As root, the cluster runs as the ``postgres`` system user (PostgreSQL
    refuses to run as root). Durability is relaxed (``fsync=off``): it is
    for tests, and vanishes with :meth:`stop`.
    """

    directory: Path
    port: int
    bindir: Path
    _databases: int = 0

    @classmethod
    def start(cls, directory: Path | None = None) -> PostgresCluster:
        """Create and start a cluster in ``directory`` (a fresh temporary one by default)."""
        bindir = _postgres_bindir()
        directory = Path(directory or tempfile.mkdtemp(prefix="schedy-pg-"))
        directory.mkdir(parents=True, exist_ok=True)
        cluster = cls(directory=directory, port=free_port(), bindir=bindir)
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
            directory.chmod(0o700)
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        cluster.resume()
        return cluster

    def pause(self) -> None:
        """Stop the server, keeping its files (a restart or a failover, as the service sees it).

        A fast shutdown: PostgreSQL ends every session, rolling back what was not committed.
        """
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the server on its files and port; return once it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-o", options, "-w", "start")

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.directory / "data"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of one of the cluster's databases."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._databases += 1
        name = f"schedy_test_{self._databases}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the cluster and delete its files."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@dataclass(frozen=True)
class Credentials:
    """A user of a running service, and the client configuration for it."""

    url: str
    email: str
    api_token: str
    password: str

    @property
    def client_config(self) -> dict[str, str]:
        """A configuration for ``schedy.SchedyDB(config_override=…)``."""
        return {"root": self.url, "email": self.email, "token": self.api_token, "token_type": "api_token"}


@dataclass
class ServiceProcess:
    """``schedy server`` in a subprocess, on a given database, over real HTTP."""

    database_url: str
    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _users: int = field(default=0)
    #: ``"https"`` when started with ``--tls-cert`` (clients must trust its certificate, e.g. ``SSL_CERT_FILE``).
    scheme: str = "http"
    #: Where this process's lines begin in the log (the file is appended to by each start).
    _log_start: int = field(default=0)

    @classmethod
    def start(
        cls, home: Path, database_url: str | None = None, *, port: int | None = None, extra_args: tuple[str, ...] = ()
    ) -> ServiceProcess:
        """Start a service with ``home`` as its data directory; wait until it answers."""
        home.mkdir(parents=True, exist_ok=True)
        database_url = database_url or f"sqlite:///{home / 'schedy.db'}"
        port = port or free_port()
        log_path = home / f"server-{port}.log"
        env = {**os.environ, "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(home / "client.json")}
        command = [
            sys.executable,
            "-m",
            "schedy.cli.main",
            "server",
            "--port",
            str(port),
            "--database",
            database_url,
            "--log-level",
            "warning",
            *extra_args,
        ]
        with log_path.open("ab") as log:
            log_start = log.tell()  # this start's lines begin here (an earlier start's may precede them)
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        scheme = "https" if "--tls-cert" in extra_args else "http"
        service = cls(
            database_url=database_url,
            home=home,
            port=port,
            process=process,
            log_path=log_path,
            scheme=scheme,
            _log_start=log_start,
        )
        try:
            service.wait_ready()
        except BaseException:
            service.stop()  # one that never got ready (or a Ctrl-C meanwhile) is not left running
            raise
        return service

    @property
    def url(self) -> str:
        """The service root, with a trailing slash."""
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until this process serves and ``/ping/`` answers; raise with the server's log if it died.

        An answer alone is not enough: another service may listen on the port (taken between
        :func:`free_port` and the start, or given twice). The service prints its ``is serving`` line
        once its own socket listens on the port, which no other process then can, so the answer
        counts once that line is in this start's log and the process still runs; a process that
        cannot listen exits with its sentence (``Cannot listen on 127.0.0.1:PORT (Address already in
        use)…``), raised here.
        """
        deadline = time.monotonic() + timeout
        # Whether it answers, not whom to trust: the readiness probe of our own loopback service.
        context = ssl._create_unverified_context() if self.scheme == "https" else None  # noqa: S323
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"schedy server exited with {self.process.returncode}:\n{self._own_log()}")
            try:
                with urllib.request.urlopen(self.url + "ping/", timeout=2, context=context):  # noqa: S310 - our own loopback URL
                    pass
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
                continue
            if _SERVING in self._own_log() and self.process.poll() is None:
                return
            time.sleep(0.05)  # another service answered: wait for ours to serve, or to exit saying why
        raise RuntimeError(f"schedy server did not answer within {timeout} s:\n{self._own_log()}")

    def _own_log(self) -> str:
        """What this start of the server printed so far (the log file may hold earlier starts' lines)."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def new_user(self, email: str | None = None, *, admin: bool = False) -> Credentials:
        """Create a user directly in the database; return its credentials."""
        from schedy.server import security
        from schedy.server.store import Store, users

        self._users += 1
        email = email or f"user{self._users}-{os.getpid()}-{time.monotonic_ns()}@example.com"
        password, token = security.new_password(), security.new_api_token()
        store = Store(self.database_url, pool_size=1)
        try:
            with store.write() as conn:
                user_id = users.create(conn, email, security.hash_password(password), is_admin=admin)
                users.add_token(conn, user_id, security.hash_api_token(token), "test")
        finally:
            store.dispose()
        return Credentials(url=self.url, email=email, api_token=token, password=password)

    def first_start_config(self) -> dict[str, Any]:
        """The client configuration the first start wrote."""
        config: dict[str, Any] = json.loads((self.home / "client.json").read_text())
        return config

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Kill the service at once (SIGKILL), as a crash would."""
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the duration of a ``with`` block."""
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
