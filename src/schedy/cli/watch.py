"""``schedy watch``: an experiment's job counts and best result, live.

Each look costs one request (the experiment with its job counts); the jobs
are read again, to find the best result, only when the counts changed. On
a terminal the line is rewritten in place; elsewhere a line is printed
each time something changed. Ctrl-C ends it (exit status 0).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from schedy import Experiment, Job, ManualSearch, SchedyDB
from schedy.cli import objective
from schedy.cli.common import UsageError, connect
from schedy.cli.experiments import status_counts_created
from schedy.cli.objective import Best, Objective
from schedy.cli.table import fit_width

__all__ = ["add_parsers", "cmd_watch", "snapshot_line"]

_ORDER = (Job.QUEUED, Job.RUNNING, Job.DONE, Job.CRASHED, Job.PRUNED)


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="Show an experiment's job counts and best result, live.",
        description="Show EXPERIMENT's status, its jobs by status and its best result, updated every "
        "--interval seconds until Ctrl-C (or --until-done). The best result is the one --minimize or --maximize names "
        "(for PBT, by default, the experiment's own objective).",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="Seconds between updates (default 2)."
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="Print the line once and exit.")
    when.add_argument(
        "--until-done",
        action="store_true",
        help="Exit once the search is over, as the workers' loops end: the experiment DONE or its budget "
        "spent, with no job running (a manual search: nothing queued or running). To wait for a search "
        "in a script.",
    )
    objective.add_arguments(parser)
    parser.set_defaults(func=cmd_watch)


def snapshot_line(name: str, status: str, counts: dict[str, int], best: Best | None) -> str:
    """One line: name, status, counts by status, best result.

    Example:
        >>> snapshot_line("MNIST", "RUNNING", {"DONE": 3, "RUNNING": 1}, None)
        'MNIST RUNNING · 0 queued · 1 running · 3 done · 0 crashed · 0 pruned'

    """
    parts = [f"{name} {status}"]
    parts += [f"{counts.get(s, 0)} {s.lower()}" for s in _ORDER]
    if best is not None:
        parts.append(best.describe(counts.get("DONE", 0)))
    return " · ".join(parts)


class _Watcher:
    def __init__(self, db: SchedyDB, exp: Experiment, goal: Objective | None) -> None:
        self.db = db
        self.exp = exp
        self.goal = goal
        self.best = Best(goal) if goal is not None else None
        self._counted: dict[str, int] | None = None
        self.over = False

    def look(self) -> str:
        """The line for the experiment now; sets :attr:`over` when its search is over."""
        status, found, created = status_counts_created(self.db, self.exp.name)
        counts = found or {}
        busy = counts.get("RUNNING", 0) + (counts.get("QUEUED", 0) if isinstance(self.exp, ManualSearch) else 0)
        # A spent budget turns the experiment DONE at the next claim; no worker may be left to make it. The
        # service's own count (hand-added jobs and retries are not in it), else, from an older one, every job.
        used = created if created is not None else sum(counts.values())
        spent = self.exp.max_jobs is not None and used >= self.exp.max_jobs
        ended = status == "DONE" or spent or isinstance(self.exp, ManualSearch)
        self.over = found is not None and busy == 0 and ended
        if self.goal is not None and counts != self._counted:
            self.best, self._counted = Best.of_done(self.goal, self.exp.all_jobs()), counts
        return snapshot_line(self.exp.name, status, counts, self.best)


def cmd_watch(args: argparse.Namespace) -> None:
    """Print the line, again and again, until interrupted."""
    if args.interval <= 0:
        raise UsageError("--interval must be positive.")
    tty = sys.stdout.isatty()
    with connect(args) as db:
        exp = db.get_experiment(args.experiment)
        watcher = _Watcher(db, exp, objective.objective_for(args, exp))
        last = None
        try:
            while True:
                line = watcher.look()
                if tty:
                    width = max(10, shutil.get_terminal_size().columns - 1)  # never wrap: \r must erase it
                    sys.stdout.write("\r\x1b[K" + fit_width(f"{time.strftime('%H:%M:%S')} {line}", width))
                    sys.stdout.flush()
                elif line != last:
                    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)
                last = line
                if args.once or (args.until_done and watcher.over):
                    break
                time.sleep(args.interval)
        except KeyboardInterrupt:
            pass
        finally:
            if tty:
                print()
