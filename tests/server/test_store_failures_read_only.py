"""A database the service may not write: refused at start in one sentence, or answered 503 while it runs.

* A SQLite file (or its directory) read-only for the service's user: the
  start stops with one sentence, instead of a service that says it is
  serving and answers every login 500 with a traceback a second in its log.
* A database that turns read-only under a running service (here PostgreSQL
  with ``default_transaction_read_only``, as a standby would be): writes are
  answered 503 with one sentence and ``Retry-After``, reads go on, the log
  has one line, not a traceback per request or per sweep; once writable,
  work goes on without a restart.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from schedy.server.store import Store, migrate
from schedy.testing import PostgresCluster, ServiceProcess
from tests.server.conftest import Api, exp_path
from tests.server.test_store_failures_start import run_server


def _database(directory: Path) -> Path:
    """A migrated SQLite database in ``directory``, closed."""
    path = directory / "schedy.db"
    store = Store(f"sqlite:///{path}")
    try:
        migrate.upgrade(store)
    finally:
        store.dispose()
    return path


def test_a_read_only_sqlite_file_is_refused_at_start_in_one_sentence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    database = _database(home)
    database.chmod(0o400)
    # With its -wal and -shm files beside it (another process has it open, or one was killed), SQLite opens
    # the file read-only without a word, and only writes fail.
    with contextlib.closing(sqlite3.connect(database)) as other:
        other.execute("SELECT count(*) FROM sqlite_master").fetchone()
        result = run_server(home)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"schedy: The database file {database} is read-only for this user ("), result
    assert result.stderr.rstrip("\n").endswith("or run the service as the user who owns it.")
    assert result.stderr.count("\n") == 1
    assert "is serving" not in result.stdout


def test_a_sqlite_file_in_a_read_only_directory_is_refused_at_start_in_one_sentence(tmp_path: Path) -> None:
    elsewhere = tmp_path / "db"
    elsewhere.mkdir()
    database = _database(elsewhere)
    elsewhere.chmod(0o500)  # SQLite could not make its -wal and -shm files
    try:
        result = run_server(tmp_path / "home", "--database", f"sqlite:///{database}")
    finally:
        elsewhere.chmod(0o700)
    assert result.returncode == 1, result
    assert result.stderr.startswith(
        f"schedy: Cannot use the directory of the database file {elsewhere} (Permission denied: this user may not "
        "enter or write it)"
    ), result
    assert result.stderr.count("\n") == 1
    assert "is serving" not in result.stdout


def _set_read_only(url: str, on: bool) -> None:
    """Make the database read-only (or writable) for new sessions, and end the service's sessions."""
    parsed = make_url(url)
    dsn = f"host={parsed.host} port={parsed.port} user={parsed.username} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{parsed.database}" SET default_transaction_read_only = {"on" if on else "off"}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        )


def _until(attempt: Callable[[], httpx.Response], timeout: float = 30.0) -> httpx.Response:
    """Send ``attempt()`` until its answer is not a 502 (sessions ended under the service's pools)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = attempt()
        if answer.status_code != 502 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_database_read_only_under_the_service_answers_writes_503_and_logs_one_line(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    service = ServiceProcess.start(tmp_path / "home", pg_cluster.new_database())
    try:
        api = Api(service.url, service.new_user())
        try:
            api.create_experiment("ro", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
            _set_read_only(service.database_url, True)
            try:
                claims = [
                    _until(lambda: api.request("POST", exp_path("ro") + "nextjob/", {"worker": "w"})) for _ in range(3)
                ]
                body = {"status": "RUNNING", "scheduler": {"Manual": None}}
                made = _until(lambda: api.request("PUT", exp_path("ro-2"), body, headers={"If-None-Match": "*"}))
                listed = _until(lambda: api.http.get("experiments/"))
                time.sleep(2.5)  # a few lease sweeps, each of which writes
            finally:
                _set_read_only(service.database_url, False)
            for answer in (*claims, made):
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "30"
                assert answer.json()["detail"].startswith(
                    "The service's database is read-only for the service (a file or disk it may not write, or a "
                    "standby server), so nothing of this request was written"
                ), answer.text
            assert listed.status_code == 200, listed.text  # reads go on
            log = service.log()
            assert log.count("The database is read-only for this service") == 1, log
            assert "Traceback" not in log
            # Writable again: work goes on, without a restart.
            again = _until(lambda: api.request("POST", exp_path("ro") + "nextjob/", {"worker": "w"}))
            assert again.status_code == 200, again.text
        finally:
            api.close()
    finally:
        service.stop()
