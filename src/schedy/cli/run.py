"""``schedy run``: a worker that runs a command for each job of an experiment.

The loop: claim a job (``nextjob``, with a lease kept alive by heartbeats
while the command runs), run the command with the job's placeholders
filled in (:mod:`schedy.cli.command`), stream its output, and end the job:

* exit status 0 and a results block → DONE with those results;
* exit status 0 and no block → CRASHED, unless ``--allow-empty-results``
  (then DONE with no new results);
* any other exit status, or a block that is not a JSON object → CRASHED
  (results it did print are kept); so is a block the service refuses (an
  integer past a float's range, lists nested too deeply, results over its
  size limit), with the reason in one line;
* each ``--- REPORT --- {"step": …}`` line it prints is sent with
  ``job.report``; when the service answers stop (the experiment's early
  stopping policy), the command gets SIGTERM, SIGKILL after
  ``--kill-after`` seconds, and the job ends PRUNED (the results it
  printed kept; a result it did not print takes the value it last
  reported, so that a search ranks the stopped job), and the loop goes on;
* when the job stops being this worker's while the command runs (deleted,
  queued again or ended by someone else, or its lease lapsed: a report or a
  heartbeat is refused), the command is stopped the same way, the job is
  counted LOST (nothing is saved over what the service holds now), and the
  loop goes on; if the experiment itself was deleted, the worker ends.

It stops when the experiment has no job to hand out, after ``--once`` or
``--max-jobs`` jobs, or at the first crashed job (exit status 1) unless
``--ignore-errors``. With ``-j N`` (or ``--gpus``), :mod:`schedy.cli.pool`
runs N of these loops side by side, sharing one :class:`Budget`.

Signals: the command runs in its own process group, so a Ctrl-C at the
terminal reaches only the runner, which passes it on (SIGINT, or SIGTERM
for a SIGTERM or a SIGHUP: a closed terminal, a dropped ssh connection) to
the command once, waits ``--kill-after`` seconds for it to end (a second
signal kills it at once), marks the job CRASHED with the results it printed
— or QUEUED again with ``--requeue-on-interrupt``, without them — and exits
with 128 + the signal number (130 for Ctrl-C). The command's standard input
is ``/dev/null``: in its own process group it cannot read the terminal.

The command's process group ends with it: once the command has exited,
whatever it left running there (a data loader, a tensorboard, a ``sleep``
in the background) gets SIGTERM, then SIGKILL after ``--kill-after``
seconds, before the job is ended and the next one claimed. Until the
command exits, the runner watches it even when it has closed its output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from schedy import Experiment, Job
from schedy._outage import Outage
from schedy._transport import REACHED_ENV
from schedy.cli import objective
from schedy.cli.command import (
    END_MARKER,
    MARKER,
    REPORT_MARKER,
    BadResults,
    ResultsParser,
    expand,
    named_placeholders,
    unknown_placeholders,
)
from schedy.cli.common import CommandError, UsageError, connect, seconds, to_json
from schedy.cli.objective import Best, Objective
from schedy.cli.progress import Console
from schedy.cli.views import space_values
from schedy.errors import HTTPError, NoJobError, ResourceNotFoundError, SchedyError

__all__ = ["HANDLED_SIGNALS", "Budget", "End", "Runner", "add_parsers", "cmd_run", "summary"]

#: The signals a worker handles (:meth:`Runner.run`, and the pool's): each is passed on to the running command.
#: SIGHUP (the terminal closed, an ssh connection dropped) is passed on as SIGTERM, so that the command ends
#: and its job is ended, rather than the command training on as an orphan while its job's lease lapses.
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: Seconds to keep reading the command's pipes once its process group has ended
#: (a process that left the group, e.g. by ``setsid``, may hold them open for ever).
_DRAIN_AFTER_EXIT = 2.0
#: Seconds between two looks at the pipes, signals and the clock.
_TICK = 0.2
#: Characters of a job's results shown in the line that reports it.
_SHOWN_RESULTS = 300


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``."""
    parser = subparsers.add_parser(
        "run",
        # The command's own options (--m, --max, --h, ...) must never be read as shortened options of run's.
        allow_abbrev=False,
        usage="schedy run [OPTIONS] EXPERIMENT COMMAND [ARG ...]",
        help="Run a command for each job of an experiment (a worker).",
        description="Claim the jobs of EXPERIMENT one after the other and run COMMAND for each, until\n"
        "the experiment has no job left. In COMMAND:\n"
        "  %e  the experiment's name\n"
        "  %j  the job's id\n"
        "  %h  the hyperparameters, as '--name value' arguments (underscores in names\n"
        "      become hyphens; strings as they are, other values as JSON; nulls left out)\n"
        "  %{NAME}  the value of the hyperparameter NAME (empty when the job has none)\n"
        "  %%  a '%'\n"
        "The command reports its results by printing a JSON object after a line\n"
        f"'{MARKER}' (optionally closed by a line '{END_MARKER}').\n"
        "Exit status 0 with results makes the job DONE; anything else, CRASHED.\n"
        "Intermediate values (early stopping, docs/early-stopping.md): a line\n"
        f"""'{REPORT_MARKER} {{"step": 3, "loss": 0.25}}' is sent as a report; when the\n"""
        "experiment's policy says stop, the command gets SIGTERM (SIGKILL after\n"
        "--kill-after seconds) and the job ends PRUNED. A job deleted, queued again or\n"
        "ended elsewhere while it runs is stopped the same way and counted LOST.\n"
        "With -j N, N such workers run side by side (--gpus: one per GPU).\n"
        "Options go before EXPERIMENT (or after it, ended by --: schedy run MNIST --once -- python\n"
        "train.py): everything after it is the command.",
        epilog="Example:\n"
        "  schedy run --maximize accuracy MNIST python train.py %h --checkpoint /runs/%e/%j.pt\n"
        "where train.py ends with\n"
        f"  print('{MARKER}'); print(json.dumps({{'accuracy': accuracy}}))\n\n"
        "Ctrl-C passes the interrupt to the command, marks the job CRASHED (or queues it\n"
        "again with --requeue-on-interrupt) and exits with status 130. The command also\n"
        "finds the experiment, the job id and its attempt (2, 3... for a retry) in\n"
        "$SCHEDY_EXPERIMENT, $SCHEDY_JOB_ID and $SCHEDY_ATTEMPT, and with 'schedy --config\n"
        "FILE run', $SCHEDY_CONFIG, so that its own schedy.SchedyDB() finds the same service.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stop = parser.add_argument_group("when to stop")
    stop.add_argument("--once", action="store_true", help="Run one job, then stop.")
    stop.add_argument("-n", "--max-jobs", type=int, metavar="N", help="Run at most N jobs.")
    stop.add_argument(
        "--max-time",
        type=seconds,
        metavar="SECONDS",
        help="Claim no new job once SECONDS have passed since the start (the job running then finishes): "
        "e.g. a cluster allocation's time limit minus a job's length.",
    )
    stop.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="When no job is available, wait up to this long for one before stopping (default 0: stop at "
        "once; any length, asked of the service in polls of at most 60 s). Useful with PBT, where a job may "
        "depend on others still running.",
    )
    stop.add_argument(
        "--ignore-errors",
        action="store_true",
        help="Go on with the next job after a job crashed (default: stop with exit status 1).",
    )
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument(
        "--allow-empty-results",
        action="store_true",
        help=f"A command that succeeds without printing '{MARKER}' makes its job DONE (default: CRASHED).",
    )
    jobs.add_argument(
        "--requeue-on-interrupt",
        action="store_true",
        help="On Ctrl-C (or SIGTERM, SIGHUP), queue the job again for another worker instead of marking it "
        "CRASHED (with the results the command printed).",
    )
    jobs.add_argument(
        "--heartbeat",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="Seconds between heartbeats while the command runs (default 30). If the runner dies, the "
        "service ends its job after three missed heartbeats; 0 turns heartbeats off.",
    )
    jobs.add_argument(
        "--kill-after",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="After passing an interrupt on (or stopping a job), kill the command if it has not ended within "
        "this long; what it left running in its process group when it exited gets as long (default 10).",
    )
    jobs.add_argument("--worker", help="This worker's name, shown with its jobs (default host:pid).")
    pool = parser.add_argument_group("several workers")
    pool.add_argument(
        "-j",
        "--parallel",
        type=int,
        metavar="N",
        help="Run N workers side by side in this one command, each running COMMAND for a job of its own "
        "(default 1, or one per --gpus device). Limits such as --max-jobs count the jobs of all of them; "
        "a crashed job stops them all (each finishes its running job) unless --ignore-errors. The command "
        "finds its worker's slot, 0 to N-1, in $SCHEDY_SLOT.",
    )
    pool.add_argument(
        "--gpus",
        type=_device_list,
        metavar="LIST",
        help="Comma-separated GPU ids, e.g. 0,1,2,3: the command of the worker in slot i sees only the "
        "i-th (CUDA_VISIBLE_DEVICES; with more workers than ids, the ids are taken in turn). Runs one "
        "worker per id unless -j says otherwise.",
    )
    objective.add_arguments(parser)
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND ...", help="The command to run.")
    parser.set_defaults(func=cmd_run, run_parser=parser)


#: The status shown for a job that stopped being this worker's while its command ran.
_LOST = "LOST"
#: With several workers, the longest wait for a job in one request (seconds): a worker waiting for work
#: notices an interrupt, or another worker's crash, within this long.
_WAIT_SLICE = 1.0


class Budget:
    """The jobs the workers of one ``schedy run`` may still claim, and whether they are to stop.

    Shared by the workers of ``schedy run -j N`` (thread-safe), so that ``--max-jobs`` counts the jobs of
    all of them and one worker's crash stops the others before their next claim.

    Args:
        limit: how many jobs may be claimed in all; ``None``: no limit.

    """

    def __init__(self, limit: int | None) -> None:
        self._left = limit
        self._lock = threading.Lock()
        #: Why the workers are to stop claiming, once one of them said so.
        self.stopping: str | None = None

    def take(self) -> bool:
        """Take one claim from the budget; ``False`` when none is left or the workers are stopping."""
        with self._lock:
            if self.stopping is not None or self._left == 0:
                return False
            if self._left is not None:
                self._left -= 1
            return True

    def give_back(self) -> None:
        """Return a claim that found no job."""
        with self._lock:
            if self._left is not None:
                self._left += 1

    def stop(self, why: str) -> None:
        """Tell every worker to claim no new job (the first reason given is kept)."""
        with self._lock:
            if self.stopping is None:
                self.stopping = why


@dataclass
class End:
    """Why a worker stopped, and its exit status."""

    reason: str
    code: int


class _Interrupted(BaseException):  # like KeyboardInterrupt: a signal, not an error
    """A signal arrived while no command was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class _Outcome:
    status: str
    detail: str


class Runner:
    """Runs the command for each job it claims; see the module docstring.

    Args:
        exp: the experiment, bound to a :class:`schedy.SchedyDB`.
        args: the parsed ``schedy run`` arguments.
        console: where output and progress go.
        goal: what "best" means for the progress line, if anything.
        budget: the claims it may make, shared with the other workers of ``schedy run -j N``
            (default: ``--once`` or ``--max-jobs``, for this worker alone).
        slot: its slot among those workers (``$SCHEDY_SLOT``); ``None`` for a lone worker.
        worker: its name, shown with its jobs (default: ``--worker``, else the client's ``host:pid``).

    """

    def __init__(
        self,
        exp: Experiment,
        args: argparse.Namespace,
        console: Console,
        goal: Objective | None,
        *,
        budget: Budget | None = None,
        slot: int | None = None,
        worker: str | None = None,
    ) -> None:
        self.exp = exp
        self.args = args
        self.console = console
        self.budget = budget if budget is not None else Budget(1 if args.once else args.max_jobs)
        self.slot = slot
        self.worker = worker or args.worker
        self.best = Best(goal) if goal is not None else None
        #: Jobs claimed, and how those that ended did.
        self.started = 0
        self.done = 0
        self.crashed = 0
        self.pruned = 0
        self.lost = 0
        self.requeued = 0
        self._lost: str | None = None  # why the running job is no longer this worker's
        self._cut_short = False  # its command was stopped because the job was no longer this worker's
        self._refused = ""  # the last refusal of a report shown (the same one is shown once)
        self._job: Job | None = None
        self._pruned_at: int | None = None  # the step at which the service stopped the running job
        self._last_reported: dict[str, Any] = {}  # each metric's latest value the running job reported
        self._child: subprocess.Popen[bytes] | None = None
        self._in_job = False
        self._signal: int | None = None
        self._forwarded = False
        # Reentrant: a lone worker's signal handler runs on the thread that may hold it.
        self._forward_lock = threading.RLock()
        self._kill_at: float | None = None
        self._job_id = ""
        self._job_started = 0.0
        self._drawn_at = 0.0

    # -- the loop -------------------------------------------------------------

    def run(self) -> int:
        """Run jobs until done, as a lone worker handling :data:`HANDLED_SIGNALS`; return the exit status."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in HANDLED_SIGNALS}
        try:
            end = self.work()
            self.console.message(f"{end.reason} {self._summary()}")
            return end.code
        except _Interrupted as stop:
            self.console.message(f"interrupted ({signal.Signals(stop.signum).name}) while no job was running.")
            return 128 + stop.signum
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.console.close()

    def work(self) -> End:
        """Claim and run jobs until this worker is to stop; why it stopped (no message written).

        A lone worker's signals arrive through :meth:`run`'s handler; the workers of ``schedy run -j N``
        learn them from :meth:`interrupt`, called by the pool.
        """
        args = self.args
        deadline = None if args.max_time is None else time.monotonic() + args.max_time
        outage = Outage("the runner waits for its next job")  # a restart of the service: wait, not end
        while True:
            if self._signal is not None:  # a pool's worker, interrupted while it had no job
                name = signal.Signals(self._signal).name
                return End(f"interrupted ({name}) while no job was running.", 128 + self._signal)
            if not self.budget.take():
                if self.budget.stopping is not None:
                    return End(f"{self.budget.stopping}: no new job claimed.", 0)
                return End(f"ran {self.started} job{'s' if self.started != 1 else ''}.", self._status())
            self._draw(force=True)
            wait = args.wait
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.budget.give_back()
                    return End(f"--max-time {args.max_time:g} s has passed: no new job claimed.", self._status())
                wait = min(wait, left)
            asked = time.monotonic()
            try:
                job = self._claim(wait)
            except NoJobError:
                self.budget.give_back()
                if wait < args.wait and time.monotonic() - asked >= wait / 2:
                    # The wait, cut short by --max-time, ran out (a service that holds no poll answers at once).
                    return End(f"--max-time {args.max_time:g} s has passed: no new job claimed.", self._status())
                return End(f"no job left in {self.exp.name!r}.", self._status())
            except ResourceNotFoundError:
                if self.started == 0:
                    raise
                return End(f"experiment {self.exp.name!r} was deleted.", self._status())
            except HTTPError as exc:
                self.budget.give_back()
                pause_until = time.monotonic() + outage.tolerate(exc)  # raises unless the service is away
                while time.monotonic() < pause_until and self._signal is None and self.budget.stopping is None:
                    time.sleep(min(0.25, max(0.0, pause_until - time.monotonic())))
                continue
            outage.over()
            if job is None:  # interrupted or told to stop while waiting for a job
                self.budget.give_back()
                continue
            self.started += 1
            outcome = self._run_job(job)
            if self._signal is not None:
                what = "queued again" if outcome.status == Job.QUEUED else f"marked {outcome.status}"
                name = signal.Signals(self._signal).name
                return End(f"interrupted ({name}): job {job.job_id} {what}.", 128 + self._signal)
            if outcome.status not in (Job.DONE, Job.PRUNED, _LOST) and not args.ignore_errors:
                self.budget.stop(f"job {job.job_id} crashed (see --ignore-errors)")
                return End(f"stopped after job {job.job_id} crashed (see --ignore-errors).", 1)

    def _claim(self, wait: float) -> Job | None:
        """The next job; ``None`` if a pool's worker was interrupted or told to stop while it waited.

        A lone worker waits as :meth:`Experiment.next_job` does, in long polls of at most the service's cap
        (60 s) until ``wait`` is spent (a signal interrupts a poll: :meth:`_on_signal` raises); a pool's
        worker in requests of at most ``_WAIT_SLICE`` seconds, looking for an interrupt or a stop between them.
        """
        worker = self.worker
        if self.slot is None:
            return self.exp.next_job(wait=wait, heartbeat=self.args.heartbeat, worker=worker)
        until = time.monotonic() + wait
        while True:
            asked = time.monotonic()
            left = until - asked
            try:
                wait = min(max(left, 0.0), _WAIT_SLICE)
                return self.exp.next_job(wait=wait, heartbeat=self.args.heartbeat, worker=worker)
            except NoJobError:
                # Also when answered well before its wait: the service holds no poll (the experiment is DONE).
                if left <= _WAIT_SLICE or time.monotonic() - asked < wait / 2:
                    raise
            if self._signal is not None or self.budget.stopping is not None:
                return None

    def interrupt(self, signum: int) -> None:
        """A signal for a pool's worker (the pool's handler calls it): as :meth:`run`'s handler, without raising.

        The first passes the signal on to the running command and lets it end; a second kills it.
        """
        if self._signal is None:
            self._signal = signum
            self._kill_at = time.monotonic() + self.args.kill_after
            self._forward()
        elif self._child is not None:
            _signal_group(self._child, signal.SIGKILL)

    def _status(self) -> int:
        """0, unless every job this worker ran crashed (with --ignore-errors): then 1, so scripts notice."""
        return 1 if self.crashed > 0 and self.done == 0 else 0

    def _summary(self) -> str:
        return summary(self.done, self.crashed, self.pruned, self.lost, self.best, self.requeued)

    @property
    def running(self) -> bool:
        """Whether a job of this worker's is running."""
        return self._in_job

    # -- one job --------------------------------------------------------------

    def _run_job(self, job: Job) -> _Outcome:
        argv = expand(self.args.command, self.exp.name, job.job_id, job.hyperparameters)
        self._job_id, self._job_started = job.job_id, time.monotonic()
        self.console.message(f"job {job.job_id}: {shlex.join(argv)}")
        self._in_job = True
        self._draw(force=True)
        outcome = _Outcome(Job.CRASHED, "")
        ran = False
        try:
            with job:
                outcome = self._execute(job, argv)
                ran = True
                if outcome.status != Job.DONE:
                    job.status = outcome.status
                elif self._cut_short:  # stopped when its lease was found lapsed: not a finished run, whatever it said
                    job.status = Job.CRASHED
        except CommandError:
            raise
        except SchedyError as exc:  # saving the job failed (e.g. its lease lapsed)
            outcome = _Outcome(Job.CRASHED, f"could not be saved: {exc}")
        except (TypeError, ValueError) as exc:
            if not ran:
                raise
            # The service refused the job's results (e.g. over its size limit): the job was ended CRASHED
            # with what it accepts, and the message says what was left out.
            why = str(exc).rstrip(".")
            outcome = _Outcome(Job.CRASHED, why if outcome.status == Job.DONE else f"{outcome.detail}; {why}")
        finally:
            self._in_job = False
        # The job was taken away meanwhile (its final update refused), unless the service kept a result that
        # came after its lease lapsed (job.lost is then None again).
        if job.lost:
            outcome = _Outcome(_LOST, f"not saved: {self._lost or job.lost.rstrip('.')}")
        self._lost, self._cut_short = None, False
        seconds = time.monotonic() - self._job_started
        if outcome.status == Job.DONE:
            self.done += 1
            if self.best is not None:
                self.best.offer(job.job_id, job.results)
        elif outcome.status == Job.CRASHED:
            self.crashed += 1
        elif outcome.status == Job.PRUNED:
            self.pruned += 1
        elif outcome.status == _LOST:
            self.lost += 1
        elif outcome.status == Job.QUEUED:
            self.requeued += 1
        self.console.message(f"job {job.job_id} {outcome.status} in {seconds:.1f} s: {outcome.detail}")
        return outcome

    def _execute(self, job: Job, argv: list[str]) -> _Outcome:
        if self._signal is not None:  # interrupted between the claim and the start
            return self._judge(job, 0, ResultsParser(), interrupted=True)
        env = {
            **os.environ,
            "SCHEDY_EXPERIMENT": self.exp.name,
            "SCHEDY_JOB_ID": job.job_id,
            "SCHEDY_ATTEMPT": str(job.attempt or 1),
        }
        env["SCHEDY_SLOT"] = str(self.slot or 0)
        # The service answered this runner: to the command's own clients (`schedy artifact put`, a SchedyDB() of
        # the same root), a refused connection is then an outage to ride out, as it is to the runner.
        env[REACHED_ENV] = self.exp._require_db().root
        if self.args.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.args.gpus[(self.slot or 0) % len(self.args.gpus)]
        if self.args.config:
            # The command's own schedy.SchedyDB() talks to the service this runner was pointed at.
            env["SCHEDY_CONFIG"] = str(Path(self.args.config).expanduser().resolve())
        try:
            child = subprocess.Popen(  # noqa: S603 - running the user's command is the point
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                process_group=0,
            )
        except OSError as exc:
            raise CommandError(f"Cannot run {argv[0]!r}: {exc.strerror or exc}.") from None
        self._child, self._job, self._pruned_at, self._kill_at = child, job, None, None
        self._last_reported, self._refused = {}, ""
        pumped = False
        try:
            parser, on_stderr = self._pump(child)
            pumped = True
            code = child.wait()
        finally:
            self._child, self._job = None, None
            if not pumped:  # the runner failed while the command ran: its whole process group goes
                _signal_group(child, signal.SIGKILL)
                child.wait()
        return self._judge(job, code, parser, interrupted=self._forwarded, on_stderr=on_stderr)

    def _judge(
        self, job: Job, code: int, parser: ResultsParser, *, interrupted: bool, on_stderr: bool = False
    ) -> _Outcome:
        """How the job ended; ``on_stderr``: the command printed a results block on its standard error."""
        if interrupted:
            if self.args.requeue_on_interrupt:  # its next run starts over, and prints results of its own
                return _Outcome(Job.QUEUED, "interrupted")
            try:
                printed = parser.results()
            except BadResults:
                printed = None
            if not printed:
                return _Outcome(Job.CRASHED, "interrupted")
            job.results.update(printed)  # e.g. a command that saves its best so far on Ctrl-C
            return _Outcome(Job.CRASHED, f"interrupted; the results it printed are kept: {_shown(job.results)}")
        try:
            results = parser.results()
        except BadResults as exc:
            if self._pruned_at is None:
                return _Outcome(Job.CRASHED, str(exc))
            results = None
        if results:
            job.results.update(results)
        if self._pruned_at is not None:  # stopped by the service: PRUNED whatever the command's end
            # A result the command did not print takes its latest reported value, as a Python worker
            # keeps it (job.results[...] = value each epoch): a search ranks a stopped job by it.
            for name, value in self._last_reported.items():
                if value is not None and name not in job.results:
                    job.results[name] = value
            why = f": {job.stop_reason}" if job.stop_reason else ""
            return _Outcome(Job.PRUNED, f"stopped by the service at step {self._pruned_at}{why}")
        if code != 0:
            how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
            return _Outcome(Job.CRASHED, f"the command {how}")
        if results is None and not self.args.allow_empty_results:
            if parser.unmarked_results():
                return _Outcome(
                    Job.CRASHED,
                    f"the command printed no '{MARKER}' block; its last line is a JSON object: "
                    f"print a '{MARKER}' line before it for it to be the job's results",
                )
            if on_stderr:
                return _Outcome(
                    Job.CRASHED,
                    f"the command printed its '{MARKER}' block on its standard error: results are read "
                    "from its standard output only",
                )
            return _Outcome(Job.CRASHED, f"the command printed no '{MARKER}' block (see --allow-empty-results)")
        return _Outcome(Job.DONE, _shown(job.results))

    def _pump(self, child: subprocess.Popen[bytes]) -> tuple[ResultsParser, bool]:
        """Relay the command's output and watch it until it ends; its parsed standard output.

        Also whether it printed a results block on its standard error (not read for results: the lines of
        the two pipes interleave), so that the job's end can say where its results went.

        The command is watched until it exits, even once it has closed its output (it logs to a file from
        then on): a signal, the ``--kill-after`` deadline and a job taken away are acted upon all along.
        Then :meth:`_end_leftovers` ends what it left in its process group, and the pipes are read until
        they close, for at most :data:`_DRAIN_AFTER_EXIT` seconds more (a process that left the group, e.g.
        with ``setsid``, may hold them for ever).
        """
        assert child.stdout is not None  # noqa: S101 - a pipe
        assert child.stderr is not None  # noqa: S101 - a pipe
        parser = ResultsParser()
        errors = ResultsParser()  # the standard error, only to tell where misplaced results or reports went
        misplaced = False  # a report line on stderr was said to be ignored
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ, self.console.out)
            selector.register(child.stderr, selectors.EVENT_READ, self.console.err)
            leftovers: _Leftovers | None = None  # set once the command exited
            while True:
                if selector.get_map():
                    events = selector.select(_TICK)
                else:  # both pipes closed (or drained), the command or its leftovers still running
                    time.sleep(_TICK)
                    events = []
                for key, _ in events:
                    stream: IO[bytes] = key.fileobj  # type: ignore[assignment]
                    data = os.read(stream.fileno(), 65536)
                    if not data:
                        selector.unregister(stream)
                        continue
                    (parser if stream is child.stdout else errors).feed(data)
                    self.console.output(key.data, data)
                    if stream is child.stdout:
                        self._send_reports(parser, child)
                    elif errors.take_reports() and not misplaced:
                        misplaced = True
                        self.console.message(
                            f"a '{REPORT_MARKER}' line on the command's standard error is ignored: "
                            "reports are read from its standard output only."
                        )
                if self._job is not None and self._job.lost and self._lost is None:  # a heartbeat was refused
                    self._lose(child, self._job.lost)
                self._watch_signals(child)
                self._draw()
                if leftovers is None:
                    if child.poll() is None:
                        continue
                    leftovers = _Leftovers(child, self._kill_at, self.args.kill_after, self.console)
                if leftovers.over(pipes_open=bool(selector.get_map())):
                    break
        child.stdout.close()
        child.stderr.close()
        return parser, errors.saw_block()

    def _send_reports(self, parser: ResultsParser, child: subprocess.Popen[bytes]) -> None:
        """Send the report lines just read; stop the command (SIGTERM, later SIGKILL) when told to.

        The lines of one read go in one request (``job.report_many``): a command printing reports
        faster than one round trip each is not held up by a full pipe.
        """
        job = self._job
        if job is None or self._pruned_at is not None or self._lost is not None:
            parser.take_reports()
            return
        batch: list[tuple[int, dict[str, float | None]]] = []
        for report in parser.take_reports():
            if isinstance(report, str):
                self.console.message(f"ignored a report: {report}.")
            else:
                batch.append(report)
        if not batch:
            return
        try:
            stop = job.report_many(batch)
        except SchedyError as exc:
            if str(exc) != self._refused:  # the same refusal again is not shown again
                self.console.message(f"a report of job {job.job_id} was refused: {exc}")
                self._refused = str(exc)
            return
        if job.lost:  # 412 or 404: the job ended, went back to the queue or was deleted
            self._lose(child, job.lost)
            return
        for _, metrics in batch:
            self._last_reported.update(metrics)
        if stop:
            self._pruned_at = step = batch[-1][0]  # the last step sent: the decision came by then
            grace = self.args.kill_after
            self.console.message(
                f"the service stopped job {job.job_id} at step {step}: sending SIGTERM (SIGKILL after {grace:g} s)."
            )
            if child.poll() is None:
                _signal_group(child, signal.SIGTERM)
                self._kill_at = time.monotonic() + grace

    def _lose(self, child: subprocess.Popen[bytes], why: str) -> None:
        """The running job is no longer this worker's: stop its command as a pruned one's."""
        self._lost = why.rstrip(".")
        grace = self.args.kill_after
        self.console.message(
            f"job {self._job_id} is no longer this worker's ({self._lost}): stopping its command "
            f"(SIGTERM, SIGKILL after {grace:g} s)."
        )
        if child.poll() is None:
            self._cut_short = True
            _signal_group(child, signal.SIGTERM)
            self._kill_at = time.monotonic() + grace

    # -- signals --------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._in_job:
            raise _Interrupted(signum)
        self.interrupt(signum)

    def _forward(self) -> None:
        with self._forward_lock:  # a pool's handler and the worker's thread may both get here
            child = self._child
            if child is not None and self._signal is not None and not self._forwarded and child.poll() is None:
                self._forwarded = True
                _signal_group(child, signal.SIGTERM if self._signal == signal.SIGHUP else self._signal)

    def _watch_signals(self, child: subprocess.Popen[bytes]) -> None:
        if self._signal is None and self._pruned_at is None and self._lost is None:
            return
        self._forward()  # the signal may have come before the command started
        if self._kill_at is not None and time.monotonic() >= self._kill_at and child.poll() is None:
            self.console.message(f"the command did not end within {self.args.kill_after:g} s; killing it.")
            _signal_group(child, signal.SIGKILL)
            self._kill_at = None

    # -- progress ---------------------------------------------------------------

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.console.progress or (not force and now - self._drawn_at < 1.0):
            return
        self._drawn_at = now
        parts = [f"schedy run {self.exp.name}", f"{self.done} done", f"{self.crashed} crashed"]
        if self.best is not None:
            parts.append(self.best.describe(self.done))
        if self._in_job:
            elapsed = int(now - self._job_started)
            parts.append(f"job {self._job_id} running {elapsed // 60}:{elapsed % 60:02d}")
        self.console.status(" · ".join(parts))


class _Leftovers:
    """The end of a command's process group once the command (its leader) has exited.

    What the command left running there (a data loader, a tensorboard, a ``sleep &``, a child that ignored
    the SIGTERM its parent died of) would hold memory, GPUs or the command's pipes across jobs: it gets
    SIGTERM at once, then SIGKILL at the deadline (``kill_at``: the pending one, if the command was being
    stopped, else ``--kill-after`` from now).

    The group is signalled even though its leader is gone: its id is the leader's pid, which the kernel
    does not hand to a new process while the group has a member; once the group is empty, signalling it
    raises ProcessLookupError, and it is not signalled again.
    """

    def __init__(self, child: subprocess.Popen[bytes], kill_at: float | None, grace: float, console: Console) -> None:
        self._child = child
        now = time.monotonic()
        self._gone_at: float | None = None  # when the group was found empty
        self._kill_at: float | None = None
        self._killed_at: float | None = None
        if _group_alive(child):
            deadline = now + grace if kill_at is None else min(kill_at, now + grace)
            console.message(
                f"the command exited, leaving processes in its process group: stopping them "
                f"(SIGTERM, SIGKILL after {max(0.0, deadline - now):.0f} s)."
            )
            _signal_group(child, signal.SIGTERM)
            self._kill_at = deadline
        else:
            self._gone_at = now

    def over(self, *, pipes_open: bool) -> bool:
        """Whether to stop reading the command's pipes: its group is gone (or would not die) and they are closed."""
        now = time.monotonic()
        if self._gone_at is None:
            if not _group_alive(self._child):
                self._gone_at = now
            elif self._kill_at is not None and now >= self._kill_at:
                _signal_group(self._child, signal.SIGKILL)
                self._kill_at, self._killed_at = None, now
            elif self._killed_at is not None and now - self._killed_at > _DRAIN_AFTER_EXIT:
                return True  # unkillable (stuck in the kernel, or no longer ours to signal): give up
        if self._gone_at is None:
            return False
        return not pipes_open or now - self._gone_at > _DRAIN_AFTER_EXIT


def _shown(results: dict[str, Any]) -> str:
    """A job's results as the line that ends it shows them (cut to :data:`_SHOWN_RESULTS` characters)."""
    shown = to_json(results)
    return shown if len(shown) <= _SHOWN_RESULTS else shown[: _SHOWN_RESULTS - 1] + "…"


def summary(done: int, crashed: int, pruned: int, lost: int, best: Best | None, requeued: int = 0) -> str:
    """E.g. ``3 done, 1 crashed, 2 pruned; best loss 0.25 (job K3x…).``: how a run's jobs ended.

    ``requeued`` counts the jobs an interrupt sent back to the queue (``--requeue-on-interrupt``), so that the
    counts add up to the jobs the run started.
    """
    text = f"{done} done, {crashed} crashed"
    if pruned:
        text += f", {pruned} pruned"
    if lost:
        text += f", {lost} lost"
    if requeued:
        text += f", {requeued} queued again"
    if best is not None:
        text += f"; {best.describe(done)}"
    return text + "."


def _device_list(text: str) -> list[str]:
    """``--gpus 0,1,2,3`` → ``["0", "1", "2", "3"]``."""
    devices = [item.strip() for item in text.split(",")]
    if not all(devices) or any(" " in device for device in devices):
        raise argparse.ArgumentTypeError(f"give device ids separated by commas, e.g. 0,1,2,3 (not {text!r})")
    return devices


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def _group_alive(child: subprocess.Popen[bytes]) -> bool:
    """Whether the command's process group still has a member (its leader, or what the command left there)."""
    try:
        os.killpg(child.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal (it changed its user): nothing to stop
        return False
    return True


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _check_executable(program: str) -> None:
    """Refuse a command that cannot start, before any job is claimed (and crashed) for it.

    A program named with a placeholder (``%e``...) is known only per job: it is left to the job.
    """
    if "%" in program:
        return
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.isfile(program):
            raise CommandError(f"The command {program!r} does not exist; no job was claimed.")
        if not os.access(program, os.X_OK):
            raise CommandError(f"The command {program!r} is not executable (chmod +x it); no job was claimed.")
    elif shutil.which(program) is None:
        raise CommandError(f"The command {program!r} is not on your PATH; no job was claimed.")


def _check_named(command: list[str], exp: Experiment) -> None:
    """Refuse a ``%{NAME}`` that names no hyperparameter of the experiment's search (a typo), before claiming."""
    space = space_values(exp)
    if not space:  # a manual search: its jobs may hold anything
        return
    for name in named_placeholders(command):
        if name not in space:
            raise UsageError(
                f"%{{{name}}} names no hyperparameter of {exp.name!r} ({', '.join(sorted(space))}); no job was claimed."
            )


def _options_after_the_experiment(args: argparse.Namespace) -> list[str]:
    """The command; ``schedy run`` options written after EXPERIMENT and ended by ``--`` are parsed into ``args``.

    ``schedy run MNIST --once -- python train.py`` says what it means; without
    the ``--`` an option there would be taken as the command: a usage error
    saying where options go.

    Raises:
        UsageError: the command starts with an option of ``schedy run`` and no ``--`` ends them.

    """
    command: list[str] = list(args.command)
    parser: argparse.ArgumentParser | None = getattr(args, "run_parser", None)
    first = command[0].split("=", 1)[0] if command else ""
    if parser is None or not first.startswith("-") or first == "--" or first not in parser._option_string_actions:
        return command
    if "--" not in command:
        raise UsageError(
            f"{command[0]!r} is an option of schedy run, but after the experiment's name the command begins: "
            f"put it before the name (schedy run {command[0]} {args.experiment} COMMAND), or end the options "
            f"with -- (schedy run {args.experiment} {command[0]} -- COMMAND)."
        )
    end = command.index("--")
    parser.parse_args([*command[:end], args.experiment, *command[end:]], namespace=args)
    return list(args.command)


def cmd_run(args: argparse.Namespace) -> int:
    """Check the arguments, connect, and run jobs; return the exit status."""
    command = _options_after_the_experiment(args)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError(
            "Give the command to run after the experiment's name, e.g. schedy run MNIST python train.py %h."
        )
    if args.once and args.max_jobs is not None:
        raise UsageError("Give --once or --max-jobs, not both.")
    if args.parallel is not None and args.parallel < 1:
        raise UsageError("-j/--parallel needs at least 1 worker.")
    size = args.parallel or (len(args.gpus) if args.gpus else 1)
    if args.once and size > 1:
        raise UsageError(f"--once runs one job; for one job per worker give --max-jobs {size}.")
    for name in ("max_jobs", "heartbeat", "wait", "kill_after"):
        value: Any = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')} cannot be negative.")
    args.command = command
    _check_executable(command[0])
    for text in dict.fromkeys(unknown_placeholders(command)):
        print(
            f"schedy run: {text!r} in the command is not a placeholder (%e, %j, %h, %{{NAME}}, %%): passed as it is.",
            file=sys.stderr,
        )
    with connect(args, attempts=10, heartbeat=args.heartbeat) as db:
        exp = db.get_experiment(args.experiment)
        _check_named(command, exp)
        console = Console(sys.stdout.buffer, sys.stderr.buffer, progress=sys.stdout.isatty())
        goal = objective.objective_for(args, exp)
        if size == 1:
            return Runner(exp, args, console, goal).run()
        from schedy.cli.pool import Pool  # imports this module

        return Pool(exp, args, console, goal, size=size, worker=args.worker or db.worker).run()
