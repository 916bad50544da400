"""A database whose disk is full: 503 with what to do, nothing half-written, and work goes on once there is room.

The SQLite file lives on a small tmpfs of its own (mounting one needs root, as
on CI's machines; elsewhere the test is skipped). PostgreSQL's disk_full is
recognised from its SQLSTATE, checked on the drivers' own exception classes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schedy.server.store.failures import DatabaseUnreachable, connection_lost, out_of_space, unreachable
from schedy.testing import ServiceProcess
from tests.dashboard import fill


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill_but(disk: Path, room: int) -> Path:
    """A ballast file taking all of ``disk`` but ``room`` bytes."""
    ballast = disk / "ballast"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with ballast.open("wb") as out:
        out.truncate(0)
        out.write(b"\0" * max(0, free - room))
    return ballast


def test_a_full_database_disk_answers_503_writes_nothing_and_work_resumes_once_there_is_room(small_disk, tmp_path):
    service = ServiceProcess.start(tmp_path / "home", f"sqlite:///{small_disk / 'schedy.db'}")
    try:
        user = service.new_user()
        api = fill.client(user)
        made = api.put("experiments/big/", content=json.dumps({"scheduler": {"Manual": None}}))
        assert made.status_code in (200, 201), made.text
        ballast = _fill_but(small_disk, 256 * 1024)
        body = json.dumps({"hyperparameters": {"pad": "x" * 4000}, "status": "QUEUED"})
        added, answer = 0, None
        for _ in range(2000):
            answer = api.post("experiments/big/jobs/", content=body)
            if answer.status_code != 201:
                break
            added += 1
        assert answer is not None
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "30"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == (
            "The service's database has no room left on its disk, so nothing of this request was written; "
            "free space on the service's machine and send it again (retry after 30 s)."
        )
        # A write through the service's general path (an experiment) is refused the same way.
        for i in range(500):
            other = api.put(f"experiments/other-{i}/", content=json.dumps({"scheduler": {"Manual": None}}))
            if other.status_code != 201:
                break
        assert other.status_code == 503, other.text
        # The worker loop's requests too (they take the service's fast path).
        claim = api.post("experiments/big/nextjob/", content=json.dumps({"worker": "w", "heartbeat": 30}))
        assert claim.status_code in (200, 503), claim.text
        # Reading still works, and holds exactly the jobs acknowledged: nothing half-written.
        listed = api.get("experiments/big/jobs/?limit=1000").json()["items"]
        assert len(listed) == added
        # One line in the log, not a traceback per request.
        log = service.log()
        assert "The database's disk is full" in log
        assert "Traceback" not in log
        # Room again: the same request goes through (the client retries a 503 by itself).
        ballast.unlink()
        assert api.post("experiments/big/jobs/", content=body).status_code == 201
        assert len(api.get("experiments/big/jobs/?limit=1000").json()["items"]) == added + 1
        # ...and so do the general path's writes, not only the fast path's, and the lease sweep.
        again = api.put("experiments/after/", content=json.dumps({"scheduler": {"Manual": None}}))
        assert again.status_code in (200, 201), again.text
        time.sleep(1.5)  # a sweep or two
        assert "Traceback" not in service.log()
        api.close()
    finally:
        service.stop()


def test_postgresqls_disk_full_is_recognised_from_either_driver():
    asyncpg = pytest.importorskip("asyncpg")
    psycopg = pytest.importorskip("psycopg")
    assert out_of_space(asyncpg.exceptions.DiskFullError("could not extend file"))
    assert out_of_space(psycopg.errors.DiskFull("could not extend file"))
    # Wrapped as SQLAlchemy wraps a driver's error, or raised from one.
    from sqlalchemy.exc import OperationalError

    assert out_of_space(OperationalError("INSERT …", {}, psycopg.errors.DiskFull("no space")))
    outer = RuntimeError("the store failed")
    outer.__cause__ = asyncpg.exceptions.DiskFullError("no space")
    assert out_of_space(outer)
    # Not every failure is a full disk.
    assert not out_of_space(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not out_of_space(OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating")))
    assert not out_of_space(httpx.ConnectError("refused"))


def test_a_database_that_cannot_be_reached_is_told_from_a_connection_lost_mid_statement():
    """503 (nothing was sent: send it again) against 502 (maybe applied): the drivers' own errors."""
    asyncpg = pytest.importorskip("asyncpg")
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy.exc import IntegrityError, OperationalError

    # No connection could be had: refused, starting up, too many; SQLAlchemy's connect error has no statement.
    refused = DatabaseUnreachable("PostgreSQL could not be reached")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert unreachable(refused)
    assert unreachable(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    assert unreachable(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"))
    assert unreachable(OperationalError(None, None, psycopg.OperationalError("connection failed")))
    # A session the server ended, or a connection that broke, during a statement: maybe applied.
    ended = OperationalError("UPDATE jobs …", {}, psycopg.errors.AdminShutdown("terminating connection"))
    ended.connection_invalidated = True
    for lost in (
        ended,
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        OperationalError("SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError("closed")),
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    ):
        assert connection_lost(lost), lost
        assert not unreachable(lost), lost
    # Other failures are neither.
    for other in (
        IntegrityError("INSERT …", {}, psycopg.errors.UniqueViolation("duplicate key")),
        OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("canceling statement")),
        ValueError("not a database error"),
    ):
        assert not unreachable(other), other
        assert not connection_lost(other), other
