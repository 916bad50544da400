"""Intermediate reports and the early-stopping decision (``POST …/jobs/ID/reports/``).

A report is one short write transaction:

1. find the experiment, renew the job's lease (a report is a heartbeat);
   a job that is not RUNNING gets 412, as a late heartbeat does;
2. insert the report(s);
3. if the job was already told to stop, answer "stop" again (the decision is
   made once, and remembered on the job as ``stop_reason``);
4. otherwise, if the experiment has an ``earlyStopping`` policy, bring the
   process's policy state up to date with the reports inserted since it last
   looked (its own included), in ``pk`` order, and answer with the verdict the
   policy gave the job's new report; a "stop" is remembered on the job.

**The policy state** (:class:`PolicyStates`) is kept per service process and
experiment, like the schedulers' history: built once from every report of
the experiment (outside the write lock, in a read transaction; the reports
read in pages of plain columns, their metrics decoded in one call and the
state built by the policy's bulk :meth:`~schedy.server.stopping.StoppingPolicy.build`,
equal to feeding them one by one), then fed
only the rows with ``pk`` above the last seen. On SQLite rows commit in
``pk`` order (one writer at a time), so nothing is missed. On PostgreSQL a
row may commit after a row with a higher ``pk``; every ``SWEEP_EVERY``
seconds the state also reads the pks of the last ``OVERLAP`` seconds (one
array) and then the rows of those it has not seen, usually none, and feeds
them. Deleting jobs (``history_epoch``) or changing the policy rebuilds the
state. So the cost of a report does not grow with the experiment: at most two
indexed reads of new rows and the policy's incremental update. On SQLite, when
the pks of the reports just inserted follow the last one the state saw, no other
report came in between (this request holds the write lock): they are fed as
inserted, without a read.

The policy knows each *attempt* of a job as a run of its own (:func:`run_name`):
a job set back to QUEUED (by hand, or re-queued after a crash) starts its next
attempt, and its new reports are judged afresh, neither "already stopped" nor
"already past this rung" because of the attempt before.

**On PostgreSQL** a report runs on the event loop (:meth:`Reports.report_async`): steps 1–2 are one
statement (:mod:`schedy.server.store.reports_async`), committed before the policy looks at it; the
state is then refreshed on the loop when it is current and no other request holds it, otherwise in
the thread pool. Each "stop" verdict is kept by report ``pk`` (the latest :data:`STOPS_KEPT`), so a
report fed to the policy by another request still gets its own verdict.

**With many workers and service processes** every report is decided by the
state of the process that received it, which has seen every report
committed before that process's last refresh: two reports racing in
different processes may not see each other. ASHA's "top 1/η" is then
checked against a rung missing at most the reports in flight at the same
moment (at most one per other worker); docs/early-stopping.md says so.
"""

from __future__ import annotations

import gc
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from anyio import to_thread
from sqlalchemy import Connection

from schedy._validate import MAX_STEP, bad_step
from schedy.server.errors import Invalid, NotFound
from schedy.server.schedulers.base import as_number
from schedy.server.service.leases import not_running
from schedy.server.stopping import Report, StoppingPolicy, Verdict, load_policy
from schedy.server.stopping.base import CONTINUE, ReportArrays
from schedy.server.store import Store, reports_async
from schedy.server.store import experiments as store_experiments
from schedy.server.store import history as store_history
from schedy.server.store import jobs as store_jobs
from schedy.server.store import reports as store_reports
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.reports import PolicyRow, ReportRow
from schedy.server.wire import dumps

__all__ = [
    "KEPT",
    "MAX_BATCH",
    "OVERLAP",
    "STOPS_KEPT",
    "SWEEP_EVERY",
    "Answer",
    "PolicyStates",
    "Reports",
    "parse_reports",
    "run_name",
]

#: Seconds of reports read again on PostgreSQL, for rows committed out of pk order.
OVERLAP = 10.0
#: How often (seconds) that overlap is read.
SWEEP_EVERY = 1.0
#: Experiments whose policy state a process keeps (least recently used go first).
KEPT = 64
#: Reports in one request, at most.
MAX_BATCH = 1000
#: "Stop" verdicts a policy state remembers by report pk (the latest ones).
STOPS_KEPT = 10_000
#: Reports read per statement when a state is built from every report.
PAGE = 50_000


class _Cold(Exception):
    """The process has no current policy state for the experiment: build it outside the write lock."""

    def __init__(self, experiment_id: int, created_at: float, policy: StoppingPolicy, stored: str) -> None:
        super().__init__(experiment_id)
        self.experiment_id, self.created_at, self.policy, self.stored = experiment_id, created_at, policy, stored


class Answer(NamedTuple):
    """What a worker learns from a report."""

    stop: bool
    reason: str | None
    lease_expires_at: float | None


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stored: str | None = None  # the policy definition the state was built for
    epoch: int | None = None
    state: Any = None
    max_pk: int = 0
    seen: dict[int, float] = field(default_factory=dict)  # pk -> created_at, recent rows only (PostgreSQL)
    swept_at: float = 0.0
    full_reads: int = 0
    # pk -> the "stop" verdict given to that report, for the latest reports: a request on the event loop
    # (PostgreSQL) commits its reports before it feeds them, so another request may feed them first.
    stops: OrderedDict[int, Verdict] = field(default_factory=OrderedDict)


def run_name(job_pk: int, attempt: int) -> str:
    """The name an early-stopping policy knows one attempt of a job by: its pk, and ``/n`` from attempt 2.

    By pk, not id: the state's reads then need no join with the jobs (and a job's id can be any text).
    """
    return str(job_pk) if attempt <= 1 else f"{job_pk}/{attempt}"


def _value(metrics: str, name: str) -> float | None:
    return as_number(json.loads(metrics).get(name))


def _values(metrics: list[str], name: str) -> npt.NDArray[np.float64]:
    """``_value`` of many reports (NaN where missing), their JSON decoded in one call."""
    try:
        decoded = json.loads(f"[{','.join(metrics)}]")
    except ValueError:  # not expected (every report is stored valid): decode one by one, as the feed does
        decoded = [json.loads(text) for text in metrics]
    values = [item.get(name) for item in decoded]
    if set(map(type, values)) <= {float}:  # the usual case: every report has the metric, a float
        return np.array(values, dtype=np.float64)
    numbers = (as_number(value) for value in values)
    return np.array([math.nan if value is None else value for value in numbers], dtype=np.float64)


class _Read(NamedTuple):
    """Every report of an experiment, in pk order, as arrays, and the recent ones' times."""

    pk: npt.NDArray[np.int64]
    recent: dict[int, float]  # pk -> created_at of the reports created since the time asked
    reports: ReportArrays


def _read_all(conn: Connection, experiment_id: int, name: str, since: float) -> _Read:
    """Every report of the experiment, read in pages of plain columns, the policy's value of each."""
    pks, job_pks, attempts, steps, values = [], [], [], [], []
    recent: dict[int, float] = {}
    after = 0
    # Millions of short-lived row tuples would start the cyclic garbage collector over and over (a quarter
    # of the build at 2M reports); they hold no cycle, and it is turned back on below.
    collecting = gc.isenabled()
    gc.disable()
    try:
        while True:
            rows = store_reports.columns(conn, experiment_id, after, PAGE)
            if not rows:
                break
            pk, job_pk, step, metrics, created_at, attempt = zip(*rows, strict=True)
            del rows
            pks.append(np.array(pk, dtype=np.int64))
            job_pks.append(np.array(job_pk, dtype=np.int64))
            attempts.append(np.array(attempt, dtype=np.int64))
            steps.append(np.array(step, dtype=np.int64))
            times = np.array(created_at, dtype=np.float64)
            new = np.flatnonzero(times >= since)
            recent.update(zip(pks[-1][new].tolist(), times[new].tolist(), strict=True))
            values.append(_values(list(metrics), name))
            after = int(pk[-1])
    finally:
        if collecting:
            gc.enable()
    every_pk = np.concatenate(pks) if pks else np.zeros(0, dtype=np.int64)
    every_job_pk = np.concatenate(job_pks) if job_pks else np.zeros(0, dtype=np.int64)
    every_attempt = np.concatenate(attempts) if attempts else np.zeros(0, dtype=np.int64)
    if not np.any(every_attempt > 1):  # the usual case: every report from a job's first attempt
        known, job = np.unique(every_job_pk, return_inverse=True)
        job_ids = [str(pk) for pk in known.tolist()]
    else:  # each attempt of a job is a run of its own
        runs, job = np.unique(np.stack([every_job_pk, every_attempt], axis=1), axis=0, return_inverse=True)
        job_ids = [run_name(pk, attempt) for pk, attempt in runs.tolist()]
    arrays = ReportArrays(
        job_ids,
        job.astype(np.int64).reshape(-1),
        np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64),
        np.concatenate(values) if values else np.zeros(0, dtype=np.float64),
    )
    return _Read(every_pk, recent, arrays)


class PolicyStates:
    """Per-process early-stopping state of recently reported-to experiments (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, float], _Entry] = OrderedDict()

    def entry(self, experiment_id: int, created_at: float) -> _Entry:
        """The entry of an experiment (``created_at`` tells it from a later one given the same id)."""
        key = (experiment_id, created_at)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                found = self._entries[key] = _Entry()
                while len(self._entries) > KEPT:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            return found

    def peek(self, experiment_id: int, created_at: float) -> _Entry | None:
        """The entry of an experiment if the process has one (not created, not moved in the LRU order)."""
        return self._entries.get((experiment_id, created_at))

    def full_reads(self, experiment_id: int, created_at: float) -> int:
        """How many times the state was built from every report (for tests and diagnostics)."""
        found = self._entries.get((experiment_id, created_at))
        return 0 if found is None else found.full_reads

    @staticmethod
    def is_current(entry: _Entry, stored: str, epoch: int) -> bool:
        """Whether the entry was built for this policy and these jobs."""
        return entry.stored == stored and entry.epoch == epoch

    @staticmethod
    def rebuild(
        entry: _Entry,
        conn: Connection,
        experiment_id: int,
        policy: StoppingPolicy,
        stored: str,
        epoch: int,
        now: float,
        job_id: str | None = None,
    ) -> list[Verdict]:
        """Build the state from every report of the experiment (caller holds ``entry.lock``).

        The same state, stops remembered and rows seen as feeding every report one by one (in pk order),
        but read and built in bulk (:meth:`StoppingPolicy.build`). ``now`` is the database's clock: the
        rows of the last ``OVERLAP`` seconds before it are remembered as seen. Returns the verdicts of
        the reports of run ``job_id`` (a :func:`run_name`), in order (none if not given).
        """
        entry.full_reads += 1
        read = _read_all(conn, experiment_id, policy.result_name, now - OVERLAP)
        built = policy.build(read.reports)
        entry.state = built.state
        entry.stored, entry.epoch = stored, epoch
        entry.max_pk = int(read.pk[-1]) if len(read.pk) else 0
        entry.seen = read.recent
        # A stopped job's reports from the one that stopped it on are "stop" (a job is never stopped twice).
        job = read.reports.job
        stopped_from = np.full(len(read.reports.job_ids), len(job), dtype=np.int64)
        verdict_of: dict[int, Verdict] = {}
        for index, (position, verdict) in built.stops.items():
            stopped_from[index], verdict_of[index] = position, verdict
        stop_rows = np.flatnonzero(np.arange(len(job)) >= stopped_from[job])[-STOPS_KEPT:]
        entry.stops = OrderedDict(
            (pk, verdict_of[index])
            for pk, index in zip(read.pk[stop_rows].tolist(), job[stop_rows].tolist(), strict=True)
        )
        entry.swept_at = 0.0
        if job_id is None or job_id not in read.reports.job_ids:
            return []
        index = read.reports.job_ids.index(job_id)
        mine = np.flatnonzero(job == index).tolist()
        first_stop = int(stopped_from[index])
        return [verdict_of[index] if row >= first_stop else CONTINUE for row in mine]

    @staticmethod
    def _feed(entry: _Entry, policy: StoppingPolicy, rows: list[PolicyRow]) -> dict[int, Verdict]:
        verdicts: dict[int, Verdict] = {}
        name = policy.result_name
        for row in rows:
            if row.pk in entry.seen:
                continue
            entry.seen[row.pk] = row.created_at
            entry.max_pk = max(entry.max_pk, row.pk)
            run = run_name(row.job_pk, row.attempt)
            verdict = policy.observe(entry.state, Report(run, int(row.step), _value(row.metrics, name)))
            verdicts[row.pk] = verdict
            if verdict.stop:
                entry.stops[row.pk] = verdict
                if len(entry.stops) > STOPS_KEPT:
                    entry.stops.popitem(last=False)
        return verdicts

    @staticmethod
    def refresh(
        entry: _Entry,
        conn: Connection,
        experiment_id: int,
        policy: StoppingPolicy,
        now: float,
        *,
        sweep: bool,
        own: Collection[int] = (),
    ) -> list[tuple[PolicyRow, Verdict]]:
        """Feed the reports the state has not seen; their rows and verdicts (caller holds ``entry.lock``).

        ``own``: the pks of the caller's reports, which must be fed (or have been) when this returns. On
        PostgreSQL one may sit below the last pk seen (it committed after a higher one was fed): the recent
        rows are then read at once, not at the next sweep, or the report would get no verdict of its own.
        """
        rows = store_reports.unseen(conn, experiment_id, entry.max_pk)
        fetched = {r.pk for r in rows}
        late = any(pk not in fetched and pk not in entry.seen for pk in own)
        due = sweep and (late or PolicyStates.sweep_due(entry, now))
        # The window's rows already fed, or read just now, would be skipped: only the others are read.
        recent = store_reports.recent(conn, experiment_id, now - OVERLAP, entry.seen, fetched) if due else None
        return PolicyStates.apply(entry, policy, rows, recent, now, sweep=sweep)

    @staticmethod
    def sweep_due(entry: _Entry, now: float) -> bool:
        """Whether the reports of the last ``OVERLAP`` seconds should be read again (PostgreSQL)."""
        return now - entry.swept_at >= SWEEP_EVERY

    @staticmethod
    def apply(
        entry: _Entry,
        policy: StoppingPolicy,
        rows: list[PolicyRow],
        recent: list[PolicyRow] | None,
        now: float,
        *,
        sweep: bool,
    ) -> list[tuple[PolicyRow, Verdict]]:
        """Feed ``rows`` (pk above the last seen) and, on a sweep, the ``recent`` rows not seen yet.

        The caller holds ``entry.lock``; returns the rows fed and their verdicts.
        """
        if recent is not None:
            known = {r.pk for r in rows}
            rows = sorted([r for r in recent if r.pk not in known] + rows)
            horizon = now - OVERLAP
            entry.seen = {pk: at for pk, at in entry.seen.items() if at >= horizon}
            entry.swept_at = now
        elif not sweep:
            entry.seen.clear()  # SQLite: rows commit in pk order, pk > max_pk is enough
        if sweep:
            # Rows read before another request fed the state further: one at or below the last pk seen and
            # older than the overlap was fed then (it had committed), a recent one is in ``seen`` if it was.
            horizon = now - OVERLAP
            rows = [r for r in rows if r.pk > entry.max_pk or r.created_at >= horizon]
        verdicts = PolicyStates._feed(entry, policy, rows)
        return [(row, verdicts[row.pk]) for row in rows if row.pk in verdicts]


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_reports(obj: Any) -> list[tuple[int, str]]:
    """Validate a report body: ``{"step": n, "metrics": {...}}`` or ``{"reports": [...]}``; ``[(step, metrics JSON)]``.

    Raises:
        Invalid: what is wrong, in one sentence.

    """
    if not isinstance(obj, dict):
        raise Invalid('Send a report as {"step": 3, "metrics": {"loss": 0.25}}.')
    if "reports" in obj:
        if obj.keys() != {"reports"} or not isinstance(obj["reports"], list) or not obj["reports"]:
            raise Invalid('Send several reports as {"reports": [{"step": 1, "metrics": {...}}, ...]} (not empty).')
        items = obj["reports"]
        if len(items) > MAX_BATCH:
            raise Invalid(f"At most {MAX_BATCH} reports per request; got {len(items)}: send them in several requests.")
    else:
        items = [obj]
    parsed = []
    for item in items:
        if not isinstance(item, dict) or not item.keys() <= {"step", "metrics"}:
            raise Invalid('A report is {"step": 3, "metrics": {"loss": 0.25}}, with no other field.')
        step = item.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise Invalid(bad_step(step))
        metrics = item.get("metrics", {})
        if not isinstance(metrics, dict):
            raise Invalid(f"A report's metrics must be an object of names to numbers, not {metrics!r}.")
        for name, value in metrics.items():
            if value is not None and not _finite_number(value):
                raise Invalid(f"Metric {name!r} must be a number (NaN and Infinity allowed) or null, not {value!r}.")
        parsed.append((step, dumps(metrics)))
    return parsed


def _first_stop(entry: _Entry, pks: list[int]) -> Verdict | None:
    """The first "stop" the state gave one of these reports, if any."""
    for pk in pks:
        found = entry.stops.get(pk)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=256)
def policy_of(options: str) -> tuple[StoppingPolicy, str] | None:
    """The experiment's early-stopping policy and its stored form, if it has one.

    Cached by the options' text: every report asks, and parsing them again each time cost about 13 µs.
    """
    if "earlyStopping" not in options:  # most experiments: no parse
        return None
    stored = json.loads(options).get("earlyStopping")
    if stored is None:
        return None
    text = dumps(stored)
    return load_policy(text), text


class Reports:
    """Use cases of intermediate reports (see the module docstring)."""

    def __init__(self, store: Store, states: PolicyStates | None = None) -> None:
        self._store = store
        self.states = states if states is not None else PolicyStates()
        # (user, experiment name) -> (experiment id, created_at) of the last report: which state to read for.
        self._keys: dict[tuple[int, str], tuple[int, float]] = {}

    def _remember(self, user_id: int, experiment: str, experiment_id: int, created_at: float) -> None:
        if len(self._keys) >= KEPT * 4:
            self._keys.clear()
        self._keys[(user_id, experiment)] = (experiment_id, created_at)

    def _experiment(self, conn: Connection, user_id: int, experiment: str) -> ExperimentRecord:
        exp = store_experiments.get_record(conn, user_id, experiment)
        if exp is None:
            raise NotFound(f"Experiment '{experiment}' does not exist.")
        return exp

    def report(self, user_id: int, experiment: str, job_id: str, items: list[tuple[int, str]]) -> Answer:
        """Record a RUNNING job's reports and say whether it should stop.

        Raises:
            NotFound: no such experiment or job.  PreconditionFailed: the job is not RUNNING.
            schedy.server.store.WouldBlock: running inline, the policy state had to be built (rerun in a thread).

        """
        for _ in range(3):
            try:
                return self._report(user_id, experiment, job_id, items, rebuild=False)
            except _Cold as cold:
                # Nothing was written (the transaction rolled back). Build the
                # state from a read transaction, outside the write lock, then retry.
                self._store.leave_loop()
                self._warm(cold)
        return self._report(user_id, experiment, job_id, items, rebuild=True)

    async def report_async(self, user_id: int, experiment: str, job_id: str, items: list[tuple[int, str]]) -> Answer:
        """:meth:`report` on the event loop (PostgreSQL: :attr:`schedy.server.store.Store.aio`).

        The lease renewal and the insert are one statement (:func:`schedy.server.store.reports_async.report`),
        committed before the policy looks at them. The reports the state has not seen are then read on the
        loop and fed to it under its lock, which is never held across a round trip; when the state is not
        current (first report of the process, a rebuild) or a thread holds it, the thread pool does the
        same. Each report's "stop" verdict is kept by pk in the state, so a report fed by another request
        still gets its own verdict; a report of ours committed after a higher pk was fed is read at once
        with the recent ones.

        Raises:
            NotFound: no such experiment or job.  PreconditionFailed: the job is not RUNNING.

        """
        aio = self._store.aio
        assert aio is not None  # noqa: S101 - PostgreSQL only
        # The state this experiment had in this process last time: if it is current, the report's statement
        # also returns the rows it has not seen (one round trip), else they are read after it.
        known = self._keys.get((user_id, experiment))
        guess = None if known is None else self.states.peek(*known)
        after_pk = guess.max_pk if guess is not None and guess.stored is not None else None
        async with aio.connection() as conn:
            done = await reports_async.report(conn, user_id, experiment, job_id, items, after_pk)
            if done is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            if known != (done.experiment_id, done.created_at):
                self._remember(user_id, experiment, done.experiment_id, done.created_at)
            if done.job_pk is None:
                raise not_running(done.job_status, experiment, job_id, "its reports are refused")
            if done.stop_reason is not None:
                return Answer(True, done.stop_reason, done.lease_expires_at)
            found = policy_of(done.options)
            if found is None:
                return Answer(False, None, done.lease_expires_at)
            policy, stored = found
            entry = self.states.entry(done.experiment_id, done.created_at)
            stop: Verdict | None = None
            fed = False
            if PolicyStates.is_current(entry, stored, done.history_epoch):
                # Read what the state has not seen (unless the report's statement did), then feed it under the
                # lock without awaiting anything: the lock is never held across a round trip, so requests on
                # the loop do not contend for it.
                if done.fresh is not None and entry is guess:
                    rows = done.fresh  # our own rows included
                else:
                    rows = await reports_async.unseen(conn, done.experiment_id, entry.max_pk)
                fetched = {row.pk for row in rows}
                late = any(pk not in fetched and pk not in entry.seen for pk in done.report_pks)
                recent = None
                if late or PolicyStates.sweep_due(entry, done.now):
                    # Those already fed (seen) or read just now would be skipped: only the others are read.
                    recent = await reports_async.recent(
                        conn, done.experiment_id, done.now - OVERLAP, entry.seen, fetched
                    )
                if entry.lock.acquire(blocking=False):  # else a thread is rebuilding or refreshing it
                    try:
                        if PolicyStates.is_current(entry, stored, done.history_epoch):
                            PolicyStates.apply(entry, policy, rows, recent, done.now, sweep=True)
                            stop, fed = _first_stop(entry, done.report_pks), True
                    finally:
                        entry.lock.release()
            if not fed:
                stop = await to_thread.run_sync(self._verdict_in_thread, entry, done, policy, stored)
            if stop is None:
                return Answer(False, None, done.lease_expires_at)
            reason = stop.reason or "The early-stopping policy stopped it."
            await reports_async.set_stop(conn, done.job_pk, reason)
            return Answer(True, reason, done.lease_expires_at)

    def _verdict_in_thread(
        self, entry: _Entry, done: reports_async.Reported, policy: StoppingPolicy, stored: str
    ) -> Verdict | None:
        """The policy's verdict on committed reports, the state built or refreshed in a read transaction."""
        with self._store.read() as conn, entry.lock:
            state = store_history.decision_state(conn, done.experiment_id)
            if state is None:  # deleted meanwhile
                return None
            if PolicyStates.is_current(entry, stored, state.history_epoch):
                PolicyStates.refresh(
                    entry, conn, done.experiment_id, policy, state.now, sweep=True, own=done.report_pks
                )
            else:
                PolicyStates.rebuild(entry, conn, done.experiment_id, policy, stored, state.history_epoch, state.now)
            return _first_stop(entry, done.report_pks)

    def _warm(self, cold: _Cold) -> None:
        entry = self.states.entry(cold.experiment_id, cold.created_at)
        with self._store.read() as conn, entry.lock:
            state = store_history.decision_state(conn, cold.experiment_id)
            if state is not None and not PolicyStates.is_current(entry, cold.stored, state.history_epoch):
                PolicyStates.rebuild(
                    entry, conn, cold.experiment_id, cold.policy, cold.stored, state.history_epoch, state.now
                )

    def _report(
        self, user_id: int, experiment: str, job_id: str, items: list[tuple[int, str]], *, rebuild: bool
    ) -> Answer:
        with self._store.write() as conn:
            located = store_reports.locate(conn, user_id, experiment, job_id)
            if located is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            exp = located.target
            renewed = store_reports.renew(conn, located)
            if renewed is None:
                raise not_running(located.job_status, experiment, job_id, "its reports are refused")
            inserted = store_reports.insert_many(conn, exp.id, renewed.pk, items, renewed.attempt)
            if renewed.stop_reason is not None:
                return Answer(True, renewed.stop_reason, renewed.lease_expires_at)
            found = policy_of(exp.options)
            if found is None:
                return Answer(False, None, renewed.lease_expires_at)
            policy, stored = found
            entry = self.states.entry(exp.id, exp.created_at)
            if not entry.lock.acquire(blocking=not self._store.inline):
                self._store.leave_loop()
            try:
                if PolicyStates.is_current(entry, stored, exp.history_epoch):
                    own = self._only_ours(entry, inserted, renewed.pk, renewed.attempt, items)
                    if own is not None:  # nothing else to read: feed our rows
                        decided = PolicyStates.apply(entry, policy, own, None, exp.now, sweep=False)
                    else:
                        decided = PolicyStates.refresh(
                            entry,
                            conn,
                            exp.id,
                            policy,
                            exp.now,
                            sweep=not self._store.is_sqlite,
                            own=[pk for pk, _ in inserted],
                        )
                    mine = [
                        verdict
                        for row, verdict in decided
                        if row.job_pk == renewed.pk and row.attempt == renewed.attempt
                    ][-len(items) :]
                elif not rebuild:
                    raise _Cold(exp.id, exp.created_at, policy, stored)
                else:
                    run = run_name(renewed.pk, renewed.attempt)
                    mine = PolicyStates.rebuild(entry, conn, exp.id, policy, stored, exp.history_epoch, exp.now, run)[
                        -len(items) :
                    ]
            finally:
                entry.lock.release()
            stops = [verdict for verdict in mine if verdict.stop]
            if stops:
                reason = stops[0].reason or "The early-stopping policy stopped it."
                store_reports.set_stop(conn, renewed.pk, reason)
                return Answer(True, reason, renewed.lease_expires_at)
            return Answer(False, None, renewed.lease_expires_at)

    def _only_ours(
        self,
        entry: _Entry,
        inserted: list[tuple[int, float]],
        job_pk: int,
        attempt: int,
        items: list[tuple[int, str]],
    ) -> list[PolicyRow] | None:
        """Our reports as rows, if they are all the state has not seen; else ``None`` (read what is new).

        SQLite only: rows commit in pk order, one writer at a time, and this one holds the write lock, so
        if our pks follow the last one the state saw, no other report of the experiment came in between.
        """
        if not self._store.is_sqlite or [pk for pk, _ in inserted] != list(
            range(entry.max_pk + 1, entry.max_pk + 1 + len(inserted))
        ):
            return None
        return [
            PolicyRow(pk, job_pk, attempt, step, metrics, created_at)
            for (pk, created_at), (step, metrics) in zip(inserted, items, strict=True)
        ]

    def summary(self, user_id: int, experiment: str) -> dict[str, Any]:
        """The experiment's policy (wire form) and its state's summary, e.g. jobs per rung.

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            found = policy_of(exp.options)
            if found is None:
                return {"policy": None, "rungs": []}
            policy, stored = found
            state = store_history.decision_state(conn, exp.id)
            entry = self.states.entry(exp.id, exp.created_at)
            with entry.lock:
                if state is not None and not PolicyStates.is_current(entry, stored, state.history_epoch):
                    PolicyStates.rebuild(entry, conn, exp.id, policy, stored, state.history_epoch, state.now)
                elif state is not None:
                    PolicyStates.refresh(entry, conn, exp.id, policy, state.now, sweep=not self._store.is_sqlite)
                rungs = policy.rungs(entry.state)
        return {"policy": {policy.name: policy.to_params()}, "rungs": rungs}

    def job_page(
        self, user_id: int, experiment: str, job_id: str, after: int | None, limit: int
    ) -> tuple[list[tuple[int, int, str, float, int]], int | None]:
        """One page of a job's reports ``(pk, step, metrics, time, attempt)`` and the key to continue after, if any.

        Raises:
            NotFound: no such experiment or job.

        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            job = store_jobs.get(conn, exp.id, job_id)
            if job is None:
                raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
            rows = store_reports.job_page(conn, job.pk, after or 0, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1][0]
        return rows, None

    def experiment_page(
        self, user_id: int, experiment: str, after: int | None, limit: int
    ) -> tuple[list[ReportRow], int | None]:
        """One page of every report of the experiment, in the order they were received.

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, experiment)
            rows = store_reports.after(conn, exp.id, after or 0, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].pk
        return rows, None
