"""The lease sweep's statement (schedy.server.store.leases), on SQLite and PostgreSQL.

Several service processes sweep the same database; each lapsed job must be
ended by exactly one of them (else its retry would be queued twice). Two
stores on one database stand for two processes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from schedy.server.store import Store, leases, migrate, users
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs

LAPSED = 3


@pytest.fixture
def lapsed(database_url: str) -> Iterator[tuple[Store, Store, int]]:
    """Two stores (two service processes) on one database, whose experiment has ``LAPSED`` lapsed jobs."""
    first, second = Store(database_url, pool_size=1), Store(database_url, pool_size=1)
    migrate.upgrade(first)
    with first.write() as conn:
        owner = users.create(conn, "leases@example.com", None)
        row = store_experiments.create(conn, owner, "leased", "RUNNING", "Manual", "null", "{}")
        assert row is not None
        for i in range(LAPSED):
            store_jobs.insert(conn, row.id, f"lapsed{i}", "RUNNING", "{}", "{}", heartbeat=0.01)  # a 30 ms lease
        store_jobs.insert(conn, row.id, "held", "RUNNING", "{}", "{}", heartbeat=3600)
        store_jobs.insert(conn, row.id, "queued", "QUEUED", "{}", "{}")
    time.sleep(0.2)  # the 30 ms leases lapse
    yield first, second, int(row.id)
    first.dispose()
    second.dispose()


def _status(store: Store, experiment_id: int, job_id: str) -> tuple[str, int, str | None]:
    with store.read() as conn:
        job = store_jobs.get(conn, experiment_id, job_id)
    assert job is not None
    return job.status, job.version, job.end_reason


def test_a_sweep_ends_only_the_lapsed_running_jobs(lapsed):
    first, _, experiment_id = lapsed
    with first.write() as conn:
        ended = leases.expire(conn)
    assert sorted(row.job_id for row in ended) == [f"lapsed{i}" for i in range(LAPSED)]
    assert {row.attempt for row in ended} == {1}
    for i in range(LAPSED):
        assert _status(first, experiment_id, f"lapsed{i}") == ("CRASHED", 2, leases.LEASE_EXPIRED)
    assert _status(first, experiment_id, "held")[0] == "RUNNING"
    assert _status(first, experiment_id, "queued")[0] == "QUEUED"
    with first.write() as conn:
        assert leases.expire(conn) == []  # nothing twice


def test_overlapping_sweeps_of_two_processes_end_each_lapsed_job_once(lapsed):
    """The first sweep's transaction stays open while the second sweeps.

    PostgreSQL: the second skips the rows the first locked (``SKIP LOCKED``);
    without it, it waits for the first to commit and then ends the same jobs
    again (its subquery read them RUNNING). SQLite: the second waits for the
    file's write lock, then finds them ended.
    """
    first, second, experiment_id = lapsed
    by_second: list[list[str]] = []

    def sweep_second() -> None:
        with second.write() as conn:
            by_second.append([row.job_id for row in leases.expire(conn)])

    other = threading.Thread(target=sweep_second)
    with first.write() as conn:
        by_first = [row.job_id for row in leases.expire(conn)]
        assert len(by_first) == LAPSED
        other.start()
        other.join(1.0)  # the second sweep runs (or waits) while this transaction is open
    other.join(60)
    assert not other.is_alive(), "the second sweep never ended"
    (ended_by_second,) = by_second
    ended = Counter(by_first + ended_by_second)
    assert [job for job, times in ended.items() if times > 1] == [], f"ended twice: {ended_by_second}"
    assert sorted(ended) == [f"lapsed{i}" for i in range(LAPSED)]
    for i in range(LAPSED):
        assert _status(first, experiment_id, f"lapsed{i}") == ("CRASHED", 2, leases.LEASE_EXPIRED)


def test_a_report_renews_a_lease_renewed_over_a_second_or_half_an_interval_ago():
    from schedy.server.store.reports import renewal_due

    now = 1_000.0
    full = now + 30 * store_jobs.LEASE_BEATS  # a 30 s heartbeat: a 90 s lease
    assert renewal_due(None, 30, now)  # no lease yet
    assert not renewal_due(full, 30, now)  # renewed just now
    assert not renewal_due(full - 0.9, 30, now)
    assert renewal_due(full - 1.1, 30, now)
    short = now + 0.5 * store_jobs.LEASE_BEATS  # a 0.5 s heartbeat: at most a quarter second's slack
    assert not renewal_due(short - 0.2, 0.5, now)
    assert renewal_due(short - 0.3, 0.5, now)
    # A lease from the experiment's maximum run time is a hard cap: reports never extend it.
    assert not renewal_due(now + 5, None, now)
