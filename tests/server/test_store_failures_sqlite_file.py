"""The SQLite file deleted or replaced under a running service: nothing it acknowledged is lost.

Before, the service went on writing into the deleted file (or the one
replaced), acknowledging every result, and the next start found none of
them. Now it notices within a second, answers 503 with one sentence until it
is restarted, logs one loud line, and copies what it held next to the path:
that copy, moved back in place, holds every result it acknowledged.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.server.conftest import Api, exp_path

GONE = "The service's database file was deleted or replaced while the service ran, so nothing of this request was done"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServiceProcess]:
    process = ServiceProcess.start(tmp_path / "home")
    yield process
    process.stop()


def _finish_until_refused(
    api: Api, experiment: str, deadline: float = 30.0, most: int | None = None
) -> tuple[dict[str, Any], httpx.Response | None]:
    """Claim and finish jobs until the service refuses (or ``most`` are): ``({job id: results}, the refusal)``."""
    done: dict[str, Any] = {}
    end = time.monotonic() + deadline
    while time.monotonic() < end and (most is None or len(done) < most):
        claim = api.request("POST", exp_path(experiment) + "nextjob/", {"worker": "w"})
        if claim.status_code != 200:
            return done, claim
        job = claim.json()
        results = {"loss": len(done)}
        update = api.request(
            "PUT",
            f"{exp_path(experiment)}jobs/{job['id']}/",
            {"status": "DONE", "hyperparameters": job["hyperparameters"], "results": results},
            headers={"If-Match": claim.headers["etag"]},
        )
        if update.status_code != 200:
            return done, update
        done[job["id"]] = results
        time.sleep(0.05)
    assert most is not None, "the service never noticed that its database file was gone"
    return done, None


def _refused_as_gone(answer: httpx.Response | None) -> None:
    assert answer is not None
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "30"
    assert answer.json()["detail"].startswith(GONE), answer.text


def test_a_deleted_database_file_is_noticed_and_what_was_acknowledged_is_kept(served: ServiceProcess) -> None:
    user = served.new_user()
    api = Api(served.url, user)
    try:
        api.create_experiment("kept", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
        database = served.home / "schedy.db"
        before, _ = _finish_until_refused(api, "kept", most=3)  # in the write-ahead log, deleted too
        for name in ("schedy.db", "schedy.db-wal", "schedy.db-shm"):  # as `rm schedy.db*` would
            (served.home / name).unlink(missing_ok=True)
        after, refusal = _finish_until_refused(api, "kept")  # any acknowledged before the service noticed
        _refused_as_gone(refusal)
        _refused_as_gone(api.request("GET", "experiments/"))  # no reads of a file a new connection would make empty
    finally:
        api.close()
    log = served.log()
    assert log.count(f"The database file {database} was deleted while the service ran") == 1, log
    assert "Traceback" not in log
    assert not database.exists()  # no empty file made in its place
    rescued = sorted(served.home.glob("schedy.db.rescued-*"))
    assert len(rescued) == 1, log
    assert str(rescued[0]) in log
    assert rescued[0].stat().st_mode & 0o777 == 0o600  # password hashes, the signing secret: private

    # As the log says: stop, move the copy in place, start again.
    served.stop()
    shutil.move(rescued[0], database)
    again = ServiceProcess.start(served.home, served.database_url)
    try:
        assert "Created the first user" not in again.log()  # the same database, users and all
        back = Api(again.url, dataclasses.replace(user, url=again.url))  # the same token still works
        try:
            kept = {job["id"]: job["results"] for job in back.all_jobs("kept") if job["status"] == "DONE"}
        finally:
            back.close()
        assert kept == {**before, **after}
    finally:
        again.stop()


def test_a_database_file_replaced_by_another_is_refused_until_a_restart(served: ServiceProcess) -> None:
    api = Api(served.url, served.new_user())
    try:
        api.create_experiment("replaced", {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}})
        database = served.home / "schedy.db"
        backup = served.home / "backup.db"
        with sqlite3.connect(database) as source, sqlite3.connect(backup) as target:
            source.backup(target)
        backup.replace(database)  # `mv backup.db schedy.db` under the running service
        _, refusal = _finish_until_refused(api, "replaced")
        _refused_as_gone(refusal)
    finally:
        api.close()
    assert "was replaced by another file while the service ran" in served.log()
