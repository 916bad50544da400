"""``schedy run -j N``: several workers side by side in one command.

Each worker is a :class:`~schedy.cli.run.Runner` in a thread of its own,
with its own job, command and heartbeats (the client keeps a connection per
thread), named ``NAME/SLOT`` (``host:pid/0``, ``host:pid/1``...) so that the
dashboard's timeline tells them apart. They share:

* **a budget** (:class:`~schedy.cli.run.Budget`): ``--max-jobs`` counts the
  jobs of all of them, and a crashed job (without ``--ignore-errors``) stops
  the others before their next claim, each finishing the job it runs;
* **the terminal**: each command's output passes through a line at a time
  (a line of one command is never cut by another's), the runner's messages
  carry the worker's slot (``schedy run [2]: job …``), and on a terminal one
  progress line counts the jobs of all of them;
* **the signals**: Ctrl-C, SIGTERM or SIGHUP reaches every running command once (a
  second one kills them), each job ends CRASHED (QUEUED with
  ``--requeue-on-interrupt``), a worker waiting for a job stops within a
  second, and the command exits with 128 + the signal's number.

Threads rather than processes: the workers spend their time waiting for
their commands and the service, and sharing the budget, the counts and the
terminal is then plain memory.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType
from typing import BinaryIO

from schedy import Experiment
from schedy.cli.objective import Best, Objective
from schedy.cli.progress import Console
from schedy.cli.run import HANDLED_SIGNALS, Budget, End, Runner, summary

__all__ = ["Pool", "SlotConsole"]

#: Bytes of a line without end (no newline, no carriage return) held back before they are passed on anyway.
_LONGEST_HELD = 65536


class SlotConsole(Console):
    """What one worker of a pool writes through: whole lines, messages tagged with its slot, no progress line.

    Args:
        console: the terminal (or pipes) the pool's workers share.
        lock: held while anything is written to ``console``.
        slot: the worker's slot.

    """

    def __init__(self, console: Console, lock: threading.Lock, slot: int) -> None:
        # No progress line of its own: the pool draws one for all of its workers.
        super().__init__(console.out, console.err, progress=False)
        self._console = console
        self._lock = lock
        self._slot = slot
        self._held: dict[int, tuple[BinaryIO, bytes]] = {}  # id(stream) -> the stream, its unfinished line

    def output(self, stream: BinaryIO, data: bytes) -> None:
        """Pass on the whole lines of a chunk of the command's output; hold back an unfinished one."""
        _, held = self._held.get(id(stream), (stream, b""))
        data = held + data
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1  # a carriage return ends a progress bar's line
        if len(data) - cut > _LONGEST_HELD:
            cut = len(data)
        self._held[id(stream)] = (stream, data[cut:])
        if cut:
            with self._lock:
                self._console.output(stream, data[:cut])

    def message(self, text: str, *, slot: int | None = None) -> None:
        """One line of the runner's own, tagged with the worker's slot, after what the command left unfinished."""
        self.flush()
        with self._lock:
            self._console.message(text, slot=self._slot)

    def status(self, text: str) -> None:
        """Ignored: the pool draws the progress line."""

    def flush(self) -> None:
        """Pass on the unfinished lines held back (the command ended without a newline)."""
        held, self._held = self._held, {}
        for stream, data in held.values():
            if data:
                with self._lock:
                    self._console.output(stream, data + b"\n")

    def close(self) -> None:
        """Pass on what is held back."""
        self.flush()


class Pool:
    """``size`` workers on one experiment, in threads; see the module docstring.

    Args:
        exp: the experiment, bound to a :class:`schedy.SchedyDB` (its client is thread-safe).
        args: the parsed ``schedy run`` arguments.
        console: the terminal (or pipes) the workers share.
        goal: what "best" means for the progress line and the summary, if anything.
        size: how many workers.
        worker: the workers' common name; each one's is ``NAME/SLOT``.

    """

    def __init__(
        self,
        exp: Experiment,
        args: argparse.Namespace,
        console: Console,
        goal: Objective | None,
        *,
        size: int,
        worker: str,
    ) -> None:
        self.exp = exp
        self.console = console
        self.goal = goal
        self.budget = Budget(args.max_jobs)
        self._lock = threading.Lock()
        self._signal: int | None = None
        self.runners = [
            Runner(
                exp,
                args,
                SlotConsole(console, self._lock, slot),
                goal,
                budget=self.budget,
                slot=slot,
                worker=f"{worker}/{slot}",
            )
            for slot in range(size)
        ]
        self._ends: list[End | None] = [None] * size
        self._failures: list[BaseException] = []

    def run(self) -> int:
        """Run the workers until each has stopped; return the exit status.

        Raises:
            Exception: what a worker raised that ends the run (e.g. a command that cannot start), once
                every worker has stopped.

        """
        previous = {signum: signal.signal(signum, self._on_signal) for signum in HANDLED_SIGNALS}
        threads = [
            threading.Thread(target=self._work, args=(slot,), name=f"schedy run [{slot}]", daemon=True)
            for slot in range(len(self.runners))
        ]
        try:
            for thread in threads:
                thread.start()
            drawn_at = 0.0
            while any(thread.is_alive() for thread in threads):
                if time.monotonic() - drawn_at >= 1.0:
                    self._draw()
                    drawn_at = time.monotonic()
                for thread in threads:
                    thread.join(0.2)  # short: the handler runs on this thread, between two joins
                    if thread.is_alive():
                        break
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            with self._lock:
                self.console.close()
        if self._failures:
            raise self._failures[0]
        return self._finish()

    def _work(self, slot: int) -> None:
        runner = self.runners[slot]
        try:
            end = runner.work()
        except BaseException as exc:  # a command that cannot start, the experiment gone: ends every worker
            self._failures.append(exc)
            self.budget.stop(f"worker {slot} failed")  # the others finish their jobs, then stop too
            return
        finally:
            runner.console.close()
        self._ends[slot] = end
        runner.console.message(end.reason)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._signal is None:
            self._signal = signum
        for runner in self.runners:
            runner.interrupt(signum)

    def _counts(self) -> tuple[int, int, int, int, int, int]:
        runners = self.runners
        return (
            sum(runner.started for runner in runners),
            sum(runner.done for runner in runners),
            sum(runner.crashed for runner in runners),
            sum(runner.pruned for runner in runners),
            sum(runner.lost for runner in runners),
            sum(runner.requeued for runner in runners),
        )

    def _best(self) -> Best | None:
        if self.goal is None:
            return None
        best = Best(self.goal)
        for runner in self.runners:
            found = runner.best
            if found is None:
                continue
            best.non_finite += found.non_finite
            if found.value is not None and found.job_id is not None:
                best.offer(found.job_id, {self.goal.result: found.value})
        return best

    def _draw(self) -> None:
        if not self.console.progress:
            return
        _, done, crashed, _, _, _ = self._counts()
        running = sum(runner.running for runner in self.runners)
        parts = [f"schedy run {self.exp.name}", f"{len(self.runners)} workers, {running} running"]
        parts += [f"{done} done", f"{crashed} crashed"]
        best = self._best()
        if best is not None:
            parts.append(best.describe(done))
        with self._lock:
            self.console.status(" · ".join(parts))

    def _finish(self) -> int:
        started, done, crashed, pruned, lost, requeued = self._counts()
        text = summary(done, crashed, pruned, lost, self._best(), requeued)
        jobs = f"{started} job{'s' if started != 1 else ''}"
        with self._lock:
            self.console.message(f"{len(self.runners)} workers ran {jobs}. {text}")
        if self._signal is not None:
            return 128 + self._signal
        if any(end is not None and end.code == 1 for end in self._ends) and self.budget.stopping is not None:
            return 1  # a crashed job stopped the workers
        return 1 if crashed > 0 and done == 0 else 0
