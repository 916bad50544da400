"""Heartbeats: telling the service a claimed job is still being worked on.

A job claimed with a heartbeat interval holds a *lease*: when no heartbeat
arrives for a few intervals the service ends the job (CRASHED, and queued
again if the experiment allows retries), so a crashed or frozen worker does
not hold it for ever.
From a job's claim to the end of ``with job:``, one background daemon thread per
:class:`schedy.SchedyDB` beats for every such job, every interval.

One thread for all jobs, rather than one per job, keeps the worker loop fast
(no thread start and join per job) and uses one connection. The thread
starts with the first lease and ends when it has had none for a while.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["Heartbeats", "Lease"]

logger = logging.getLogger("schedy")

#: Seconds without any lease after which the thread ends.
_IDLE_EXIT = 10.0


class Lease:
    """One job being beaten for; see :meth:`Heartbeats.start`."""

    __slots__ = ("active", "beat", "due", "interval", "lock", "pid")

    def __init__(self, beat: Callable[[], bool], interval: float) -> None:
        self.pid = os.getpid()  # a forked child's copy is not its own: its thread stayed in the parent
        self.beat = beat
        self.interval = interval
        self.due = time.monotonic() + interval
        self.active = True
        # Held while beating, so that stop() waits for a beat in flight and
        # no beat reaches the service after the job was finished.
        self.lock = threading.Lock()


class Heartbeats:
    """The heartbeat thread of one :class:`schedy.SchedyDB`.

    Args:
        on_thread_exit: called by the thread just before it ends (closes its
            connection).

    """

    def __init__(self, on_thread_exit: Callable[[], None] | None = None) -> None:
        self._on_thread_exit = on_thread_exit
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._leases: set[Lease] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        # When the thread wakes up next by itself (monotonic); a new lease due
        # later does not need to wake it: one wake-up per job would cost the
        # worker loop a thread switch per job.
        self._wake_at = 0.0

    def start(self, beat: Callable[[], bool], interval: float) -> Lease:
        """Call ``beat`` every ``interval`` seconds until :meth:`stop`.

        ``beat`` returns false when the lease is gone; it is then not called
        again. It must not raise (exceptions are logged and the lease kept).
        """
        if self._pid != os.getpid():
            self._reset()  # forked: the parent's thread does not exist here
        lease = Lease(beat, interval)
        with self._cond:
            self._closed = False
            self._leases.add(lease)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="schedy-heartbeat", daemon=True)
                self._thread.start()
            elif lease.due < self._wake_at:
                self._cond.notify()
        return lease

    def stop(self, lease: Lease) -> None:
        """Stop beating for ``lease``, waiting for a beat in flight to end.

        In a forked child, a lease started by the parent is left alone: the
        parent's thread beats for it, and its lock may have been copied held.
        """
        if lease.pid != os.getpid():
            return
        with lease.lock:
            lease.active = False
        with self._cond:
            self._leases.discard(lease)

    def close(self) -> None:
        """Stop every lease and end the thread."""
        with self._cond:
            self._closed = True
            self._leases.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _due(self) -> list[Lease] | None:
        """Wait until some leases are due; ``None`` when the thread should end."""
        with self._cond:
            while True:
                if self._closed:
                    self._thread = None
                    return None
                now = time.monotonic()
                if not self._leases:
                    self._wake_at = now + _IDLE_EXIT
                    if not self._cond.wait(_IDLE_EXIT) and not self._leases:
                        self._thread = None
                        return None
                    continue
                due = [lease for lease in self._leases if lease.due <= now]
                if due:
                    self._wake_at = 0.0  # beating: it looks at every lease again before it waits
                    return due
                self._wake_at = min(lease.due for lease in self._leases)
                self._cond.wait(self._wake_at - now)

    def _run(self) -> None:
        try:
            while (due := self._due()) is not None:
                for lease in due:
                    self._beat(lease)
        finally:
            if self._on_thread_exit is not None:
                self._on_thread_exit()

    def _beat(self, lease: Lease) -> None:
        with lease.lock:
            if not lease.active:
                return
            try:
                keep = lease.beat()
            except Exception:
                logger.exception("Schedy heartbeat failed; will try again.")
                keep = True
            lease.due = time.monotonic() + lease.interval
            if not keep:
                lease.active = False
        if not keep:
            with self._cond:
                self._leases.discard(lease)
