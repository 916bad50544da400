"""A loop of short write transactions lets a write waiting for SQLite's writer in (``Store.make_way``).

A lock released and at once taken again by the same thread is seldom the waiting thread's: during a
big delete, 2,000 jobs per transaction, a claim could wait for many of them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from schedy.server.store import Store, migrate


def test_a_write_waiting_during_a_loop_of_writes_goes_at_the_next_turn(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}", pool_size=2)
    try:
        migrate.upgrade(store)
        turns: list[int] = []
        batches = 0  # changed only with the write lock held: what the claim reads under it is stable

        def claim() -> None:
            with store.write():
                turns.append(batches)

        claimer = threading.Thread(target=claim)
        for _ in range(100):
            with store.write():
                if not claimer.is_alive() and not turns:
                    claimer.start()
                    deadline = time.monotonic() + 10
                    while not store._waiting and time.monotonic() < deadline:  # it waits for the lock now
                        time.sleep(0.001)
                    assert store._waiting, "the claim never waited for the write lock"
                time.sleep(0.005)  # a batch's work, the lock held
                batches += 1
            store.make_way(10.0)  # a generous bound: a loaded machine may take long to wake the claim
            if turns:
                break
        claimer.join(5)
        # Let in after the batch it waited behind, not after the loop's end.
        assert turns == [1]
    finally:
        store.dispose()
