"""Each experiment's history, kept per service process and refreshed by what changed.

A scheduler that reads the history (``Scheduler.reads_history``) decides
from every job of its experiment. Reading and decoding every job on every
claim would cost O(n) per claim, inside the claim's transaction; instead
:class:`Histories` keeps, per process, the decoded jobs of the experiments
recently claimed from, and a refresh reads only:

1. the experiment's decision state (one row: decision counter, history
   epoch, RNG state, status, the database clock ``now``), then
2. the jobs whose ``updated_at`` is at or after the watermark (the index
   ``(experiment_id, updated_at)``), decoding only those whose version is
   new to the cache; when the last such window held many jobs (a fast
   search: every job written in the last ``OVERLAP`` seconds is in it),
   their keys and versions first, then whole rows only from the oldest
   change the cache does not hold,

and moves the watermark to ``now - OVERLAP``. Every write to a job stamps
``updated_at`` from the database clock when the statement runs; a row
committed later than ``OVERLAP`` seconds after that stamp would be missed,
so ``OVERLAP`` is far longer than any write transaction of the service (a
job update is one statement; a claim, a few). A full read happens when the
cache is cold, when jobs were deleted (the experiment's ``history_epoch``
moved), when the database clock went backwards, and every ``FULL_EVERY``
seconds, which bounds the effect of anything missed.

Correctness of decisions does not rest on the cache being complete: a
decision commits only if the experiment's ``decision_seq`` is still the one
read in step 1 (see :mod:`schedy.server.service.claims`), and the decision
state is read before the jobs, so the jobs seen include every job inserted
by the decisions counted, whatever the number of service processes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import Connection

from schedy.server.schedulers.base import JobView
from schedy.server.store import Store
from schedy.server.store import history as store_history
from schedy.server.store.history import DecisionState
from schedy.server.store.jobs import JobRecord

__all__ = ["FULL_EVERY", "KEPT", "OVERLAP", "Histories", "History", "job_view"]

#: Seconds of changes read again before the watermark (see the module docstring).
OVERLAP = 10.0
#: Seconds after which a cached history is read in full again.
FULL_EVERY = 300.0
#: How many experiments' histories a process keeps (least recently used go first).
KEPT = 64
#: A refresh whose last window held more jobs than this reads the window's keys first (see ``_changed``).
KEYS_FIRST = 32


def job_view(row: JobRecord) -> JobView:
    """A job as a scheduler sees it (hyperparameters and results decoded)."""
    return JobView(
        id=row.job_id,
        status=row.status,
        hyperparameters=json.loads(row.hyperparameters),
        results=json.loads(row.results),
        created_at=row.created_at,
        finished_at=row.finished_at,
        member=row.member,
        generation=row.generation,
        parent=row.parent,
        attempt=row.attempt,
    )


@dataclass(frozen=True)
class History:
    """An experiment's jobs, oldest first, and the decision state they were read with."""

    jobs: tuple[JobView, ...]
    state: DecisionState


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    epoch: int | None = None
    views: dict[int, JobView] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    watermark: float = 0.0
    full_at: float = 0.0
    ordered: tuple[JobView, ...] | None = None
    max_pk: int = 0
    reads: int = 0
    full_reads: int = 0
    window: int = 0  # jobs in the last refresh's window (changed since its watermark)


class Histories:
    """The per-process cache of experiments' histories (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, float], _Entry] = OrderedDict()

    def read(self, experiment_id: int, created_at: float, conn: Connection | None = None) -> History | None:
        """The experiment's history, brought up to date; ``None`` if the experiment was deleted.

        ``created_at`` tells an experiment from a later one given the same id.
        ``conn``: read with this connection (e.g. inside a write transaction
        holding the experiment's lock) instead of a read transaction of its own.
        """
        key = (experiment_id, created_at)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > KEPT:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        with entry.lock:
            if conn is not None:
                found = self._refresh(entry, conn, experiment_id)
            elif self._store.is_sqlite:
                with self._store.read() as own:
                    found = self._refresh(entry, own, experiment_id)
            else:
                # PostgreSQL: each statement alone, without BEGIN and COMMIT (two round trips). The decision
                # state is read first, so the jobs read after it include those of every decision it counts.
                with self._store.autocommit() as own:
                    found = self._refresh(entry, own, experiment_id)
        if found is None:
            with self._lock:
                self._entries.pop(key, None)
        return found

    def state(self, experiment_id: int, created_at: float, conn: Connection | None = None) -> History | None:
        """The experiment's decision state alone, with no job; ``None`` if the experiment was deleted.

        For a search that reads no job but records each decision (a seeded random search: its
        decision's number seeds its draws): one row, however many jobs the experiment has, and nothing
        cached. The arguments are :meth:`read`'s (``created_at`` is not needed: nothing is cached).
        """
        del created_at
        if conn is not None:
            found = store_history.decision_state(conn, experiment_id)
        elif self._store.is_sqlite:
            with self._store.read() as own:
                found = store_history.decision_state(own, experiment_id)
        else:
            with self._store.autocommit() as own:
                found = store_history.decision_state(own, experiment_id)
        return None if found is None else History((), found)

    def stats(self, experiment_id: int, created_at: float) -> tuple[int, int]:
        """``(refreshes, full reads)`` of a cached history (for tests and diagnostics)."""
        entry = self._entries.get((experiment_id, created_at))
        return (0, 0) if entry is None else (entry.reads, entry.full_reads)

    @staticmethod
    def _refresh(entry: _Entry, conn: Connection, experiment_id: int) -> History | None:
        state = store_history.decision_state(conn, experiment_id)
        if state is None:
            return None
        entry.reads += 1
        full = (
            entry.epoch != state.history_epoch
            or state.now - entry.full_at > FULL_EVERY
            or state.now < entry.watermark  # the database clock went back
        )
        if full:
            entry.full_reads += 1
            rows = store_history.all_of(conn, experiment_id)
            entry.views = {row.pk: job_view(row) for row in rows}
            entry.versions = {row.pk: row.version for row in rows}
            entry.max_pk = rows[-1].pk if rows else 0
            entry.ordered = None
            entry.full_at = state.now
        else:
            unsorted = False
            for row in _changed(entry, conn, experiment_id):
                known = entry.versions.get(row.pk)
                if known == row.version:
                    continue
                if known is None:
                    if row.pk < entry.max_pk:
                        unsorted = True  # committed after a later job (PostgreSQL sequences)
                    entry.max_pk = max(entry.max_pk, row.pk)
                entry.views[row.pk] = job_view(row)
                entry.versions[row.pk] = row.version
                entry.ordered = None
            if unsorted:
                entry.views = dict(sorted(entry.views.items()))
        entry.epoch = state.history_epoch
        entry.watermark = state.now - OVERLAP
        if entry.ordered is None:
            entry.ordered = tuple(entry.views.values())
        return History(entry.ordered, state)


def _changed(entry: _Entry, conn: Connection, experiment_id: int) -> list[JobRecord]:
    """The jobs changed since the watermark that the cache does not hold at their version (and maybe a few it does).

    The window (``OVERLAP`` seconds) holds every job written in the last seconds, which at a high claim rate is
    hundreds of jobs the cache already holds, each read and decoded again at every claim. When the last window was
    that large, its keys and versions are read first, then whole rows only from the oldest change the cache does
    not hold on: usually the one or two jobs written since the last claim.
    """
    if entry.window <= KEYS_FIRST:
        rows = store_history.changed_since(conn, experiment_id, entry.watermark)
        entry.window = len(rows)
        return rows
    keys = store_history.changed_keys(conn, experiment_id, entry.watermark)
    entry.window = len(keys)
    stale = [updated_at for pk, version, updated_at in keys if entry.versions.get(pk) != version]
    return store_history.changed_since(conn, experiment_id, min(stale)) if stale else []
