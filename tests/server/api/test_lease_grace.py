"""``schedy server --lease-grace``: how long a lease may be overdue before its job is ended."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime

import httpx
import pytest

from schedy.server.store.jobs import LEASE_BEATS
from schedy.testing import ServiceProcess

GRACE = 4.0
HEARTBEAT = 0.2


@pytest.fixture
def graceful(database_url, tmp_path):
    """A service with a lease grace, and a session of a user of it."""
    process = ServiceProcess.start(tmp_path / "home", database_url, extra_args=("--lease-grace", str(GRACE)))
    user = process.new_user()
    http = httpx.Client(base_url=process.url, timeout=60)
    answer = http.post("token/", json={"email": user.email, "token": user.api_token})
    http.headers["Authorization"] = "Bearer " + answer.json()["token"]
    with closing(http):
        yield http
    process.stop()


def _claim(http: httpx.Client, name: str) -> dict:
    body = {"status": "RUNNING", "scheduler": {"Manual": None}}
    assert http.put(f"experiments/{name}/", json=body).status_code == 201
    assert http.post(f"experiments/{name}/jobs/", json={}).status_code == 201
    claimed = http.post(f"experiments/{name}/nextjob/", json={"heartbeat": HEARTBEAT})
    assert claimed.status_code == 200
    return claimed.json()


def test_an_overdue_lease_is_kept_for_the_grace_and_a_late_heartbeat_saves_the_job(graceful):
    job = _claim(graceful, "late")
    path = f"experiments/late/jobs/{job['id']}/"
    lease = HEARTBEAT * LEASE_BEATS
    time.sleep(lease + 1.5)  # overdue, and swept at least once since
    overdue = graceful.get(path).json()
    assert overdue["status"] == "RUNNING"
    # leaseExpiresAt shows the lease itself, already past: the grace is the service's tolerance.
    assert datetime.fromisoformat(overdue["leaseExpiresAt"]).timestamp() < time.time()
    assert graceful.post(path + "heartbeat/").status_code == 200  # late, but within the grace
    silent_since = time.monotonic()
    deadline = silent_since + lease + GRACE + 15
    while (now := graceful.get(path).json())["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    waited = time.monotonic() - silent_since
    assert (now["status"], now["endReason"]) == ("CRASHED", "lease-expired")
    assert waited > lease + GRACE - 0.5  # not before the grace was over


def test_the_grace_must_be_a_number_of_seconds(tmp_path):
    command = [sys.executable, "-m", "schedy.cli.main", "server", "--lease-grace", "-1"]
    done = subprocess.run(
        [*command, "--database", f"sqlite:///{tmp_path}/x.db"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "--lease-grace must be a number of seconds >= 0" in done.stderr
