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
        waiting = threading.Event()
        rounds = 0

        def claim() -> None:
            waiting.set()
            with store.write():
                turns.append(rounds)

        claimer = threading.Thread(target=claim)
        for rounds in range(100):  # claim() reads it
            with store.write():
                if rounds == 0:
                    claimer.start()
                    waiting.wait(5)
                time.sleep(0.005)  # a batch's work, the lock held
            store.make_way(0.05)
            if turns:
                break
        claimer.join(5)
        # Let in after the batch it waited behind, not after the loop's end.
        assert turns == [0]
    finally:
        store.dispose()
