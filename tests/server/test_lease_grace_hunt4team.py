"""``--lease-grace`` is the deployment's: several service processes on one database apply one grace.

Every process sweeps the whole database, so a grace kept per process let the
shortest one win: a job claimed through a process started with a long grace
was ended CRASHED by another process started without one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedy.server.store.jobs import LEASE_BEATS
from schedy.testing import ServiceProcess
from tests.server.conftest import Api, exp_path

HEARTBEAT = 0.2
INFO = ("--log-level", "info")


@pytest.fixture
def graceful(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service started with a long grace, as an operator does before a network maintenance."""
    with ServiceProcess.start(tmp_path / "a", database_url, extra_args=("--lease-grace", "60", *INFO)) as process:
        yield process


def test_a_process_started_without_a_grace_keeps_the_grace_another_set_and_the_last_one_set_wins(
    graceful: ServiceProcess, tmp_path: Path
) -> None:
    # Another host's process, started without --lease-grace, sweeps the same database.
    with ServiceProcess.start(tmp_path / "b", graceful.database_url, extra_args=INFO) as other:
        api = Api(graceful.url, graceful.new_user())
        try:
            api.create_experiment("grace", {"Manual": None})
            assert api.add_job("grace", hyperparameters={}).status_code == 201
            claimed = api.request("POST", f"{exp_path('grace')}nextjob/", {"heartbeat": HEARTBEAT})
            assert claimed.status_code == 200, claimed.text
            job = f"{exp_path('grace')}jobs/{claimed.json()['id']}/"
            time.sleep(HEARTBEAT * LEASE_BEATS + 3)  # overdue, and swept by both processes since
            assert api.http.get(job).json()["status"] == "RUNNING"  # the grace held, whoever swept
            assert api.http.post(job + "heartbeat/").status_code == 200
            time.sleep(HEARTBEAT * LEASE_BEATS + 1)  # overdue again
            # The last process started with a grace sets it for all: 0, so the first process's sweep ends the job.
            with ServiceProcess.start(
                tmp_path / "c", graceful.database_url, extra_args=("--lease-grace", "0", *INFO)
            ) as last:
                assert "The lease grace is now 0s (--lease-grace; it was 60s)" in last.log()
            deadline = time.monotonic() + 30
            while (now := api.http.get(job).json())["status"] == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert (now["status"], now["endReason"]) == ("CRASHED", "lease-expired")
        finally:
            api.close()
        # Each start says which grace applies to every process.
        assert "The lease grace is now 60s (--lease-grace; it was 0s) for every service process" in graceful.log()
        assert "The lease grace is 60s, stored in the database" in other.log()
