"""The dashboard's use cases, each one transaction: summaries, job columns, one job, two actions.

Reads that the page polls (:meth:`Dashboard.summaries`,
:meth:`Dashboard.table`) first compute a fingerprint of what they would
answer from one aggregate per experiment (job counts, latest update, sum of
versions by status): when it matches the caller's ``If-None-Match``,
nothing else is read and the route answers 304.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from schedy.server.dashboard import brackets, columns, importance, objective
from schedy.server.errors import Conflict, Invalid, NotFound, PreconditionFailed
from schedy.server.store import Store, report_samples
from schedy.server.store import attempts as store_attempts
from schedy.server.store import budget as store_budget
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store import reports as store_reports
from schedy.server.store import samples as store_samples
from schedy.server.store import stats as store_stats
from schedy.server.store import users as store_users
from schedy.server.store.experiments import ExperimentRow
from schedy.server.store.jobs import JobRow
from schedy.server.store.stats import StatusStats
from schedy.server.wire import dumps, iso, parse_etags, render_experiment, render_job

#: Incremental reads also return jobs updated this many seconds before the
#: caller's cursor: a transaction that took its timestamp before another but
#: committed after it is still seen. (Deletions are caught by the total.)
OVERLAP = 10.0
_BEST_CACHE_SIZE = 1024
#: How many DONE jobs' results are looked at to guess an undeclared objective.
_GUESS_FROM = 50
#: Full reads of every job wait for their turn (:class:`HeavyReads`) in this many threads of their own.
_FULL_READS = 4
#: Heavy reads (:class:`HeavyReads`) run at most this many at once per process, the others waiting their turn…
HEAVY_AT_ONCE = 1
#: …and each gives the interpreter away for REST seconds after a SLICE of seconds in which other
#: threads ran for more than a SHARED fraction of the time (so a read alone runs at full speed).
HEAVY_SLICE = 0.005
HEAVY_REST = 0.002
HEAVY_SHARED = 0.2
#: Full column answers kept per process, by experiment: reopening an unchanged
#: 100k-job experiment costs one aggregate, a changed one that plus the changes.
_BODY_CACHE_BYTES = 128 << 20
#: A kept answer is sent with a patch of the jobs changed since while they are at most
#: this many, or this fraction of its jobs; beyond, the experiment is read again.
_PATCH_MIN_ROWS = 2000
_PATCH_FRACTION = 0.05
#: Reports sent per answer of :meth:`Dashboard.reports` (the page asks again for more).
#: PostgreSQL: the reports of the last seconds wait for the next answer (:meth:`Dashboard.reports`).
SETTLE_SECONDS = 2.0
REPORTS_PER_ANSWER = 50_000
#: Importance is computed from at most this many finished jobs (an even sample of them beyond).
IMPORTANCE_CAP = 20_000
_IMPORTANCE_CACHE_SIZE = 256
#: Jobs read per transaction for the downloads (:meth:`Dashboard.records`).
_RECORDS_PAGE = 2000
#: Records rendered between two calls of a heavy read's pause (:class:`HeavyReads`).
_RECORDS_PER_PAUSE = 50


def fingerprint(experiment: ExperimentRow, stats: Mapping[str, StatusStats]) -> str:
    """A weak ETag that changes whenever the experiment or any of its jobs does."""
    parts = [repr(experiment.updated_at), str(experiment.status)]
    parts += [f"{s}:{v.count}:{v.last_update!r}:{v.versions}:{v.max_pk}" for s, v in sorted(stats.items())]
    digest = hashlib.blake2b("|".join(parts).encode("utf-8"), digest_size=12).hexdigest()
    return f'W/"{digest}"'


def _last_activity(experiment: ExperimentRow, stats: Mapping[str, StatusStats]) -> float:
    return max([float(experiment.updated_at), *(v.last_update for v in stats.values())])


class HeavyReads:
    """Turns for the dashboard's heavy reads, which share the interpreter with the worker loop.

    A full read of every job, the downloads' records and the reports thinned
    for curves render thousands of rows in Python, in threads of the
    process that serves claims and reports: while they hold the interpreter
    (the GIL), the event loop waits for it at every step. So they run
    :data:`HEAVY_AT_ONCE` at a time (the others wait, holding nothing), and
    the one running calls its ``pause`` often: after every
    :data:`HEAVY_SLICE` seconds of work, it sleeps :data:`HEAVY_REST`
    seconds, in which the loop runs unhindered. A download takes its turn
    per page, so one sent to a slow client lets the others go between pages.
    """

    def __init__(self, at_once: int = HEAVY_AT_ONCE) -> None:
        self._gate = threading.BoundedSemaphore(at_once)
        self._waiting = 0
        self._count = threading.Lock()

    @property
    def waiting(self) -> int:
        """How many heavy reads wait for their turn."""
        with self._count:
            return self._waiting

    @contextmanager
    def turn(self) -> Iterator[Callable[[], None]]:
        """Wait for a turn; hold it in the block, which gets the ``pause`` to call between pieces of work."""
        with self._count:
            self._waiting += 1
        try:
            self._gate.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield _Pace()
        finally:
            self._gate.release()


class _Pace:
    """Called between pieces of a heavy read: a rest after a slice in which others wanted the CPU.

    Every :data:`HEAVY_SLICE` seconds, it compares the time that passed with
    the CPU time the reading thread got: when others got more than
    :data:`HEAVY_SHARED` of it (the worker loop, which waited for the GIL,
    or other processes), the read rests :data:`HEAVY_REST` seconds.
    """

    __slots__ = ("_cpu", "_wall")

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.thread_time()

    def __call__(self) -> None:
        wall = time.perf_counter() - self._wall
        if wall < HEAVY_SLICE:
            return
        if wall - (time.thread_time() - self._cpu) > wall * HEAVY_SHARED:
            time.sleep(HEAVY_REST)
        self._wall = time.perf_counter()
        self._cpu = time.thread_time()


@dataclass(frozen=True)
class _Base:
    """A full answer kept in the process: its ETag and text, its cursor and job count.

    ``created_at`` tells the experiment apart from a later one that got the
    same id (SQLite may reuse the largest id after a deletion).
    """

    etag: str
    body: str
    cursor: float
    count: int
    created_at: float


@dataclass(frozen=True)
class Table:
    """The answer of :meth:`Dashboard.table`: its ETag, and the body unless not modified.

    A full read of every job comes as ``chunks`` instead (``body`` is None):
    the lines of the body, each read from the database when the previous one
    has been taken, so the caller sends one while the next is read.
    """

    etag: str
    body: str | None
    chunks: Iterator[str] | None = None


class Dashboard:
    """Use cases of the dashboard for one service process."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # (experiment id, DONE fingerprint, params, options) → (objective, best); the
        # list is polled, and finding the best parses every DONE result.
        self._best: dict[tuple[int, str, str, str], tuple[objective.Objective | None, tuple[str, float] | None]] = {}
        self._lock = threading.Lock()
        self._bases: dict[int, _Base] = {}  # experiment id → its last full answer
        # (experiment id, creation, DONE fingerprint, objective, direction) → answer
        self._importance: dict[tuple[int, float, str, str, str], str] = {}
        # Full reads of every job (Dashboard._full): a few at once, each in one snapshot.
        self._reads = ThreadPoolExecutor(max_workers=_FULL_READS, thread_name_prefix="dashboard-read")
        self.heavy = HeavyReads()

    @staticmethod
    def _experiment(conn: Connection, user_id: int, name: str) -> ExperimentRow:
        row = store_experiments.get(conn, user_id, name)
        if row is None:
            raise NotFound(f"Experiment '{name}' does not exist.")
        return row

    def _objective_and_best(
        self, conn: Connection, experiment: ExperimentRow, done: StatusStats | None
    ) -> tuple[objective.Objective | None, tuple[str, float] | None]:
        if done is None:
            return objective.declared(experiment.params, experiment.options), None
        fingerprint = f"{done.count}:{done.last_update!r}:{done.versions}"
        key = (int(experiment.id), fingerprint, str(experiment.params), str(experiment.options))
        with self._lock:
            cached = self._best.get(key)
        if cached is not None:
            return cached
        results = store_stats.done_results(conn, experiment.id)
        found = objective.default(experiment.params, (text for _, text in results[:_GUESS_FROM]), experiment.options)
        value = (found, None if found is None else objective.best(found, results))
        with self._lock:
            if len(self._best) >= _BEST_CACHE_SIZE:
                self._best.clear()
            self._best[key] = value
        return value

    def email(self, user_id: int) -> str | None:
        """The user's email; ``None`` if the user was removed."""
        with self._store.read() as conn:
            user = store_users.by_id(conn, user_id)
        return None if user is None else str(user.email)

    def summaries(self, user_id: int, known: str | None = None) -> tuple[str, list[dict[str, Any]] | None]:
        """The ETag of the user's experiment list and, unless it is ``known``, the list.

        Each item: name, status, scheduler name, times, ``lastActivity``,
        ``jobCounts`` by status, the default ``objective`` and the ``best``
        job by it.
        """
        with self._store.snapshot() as conn:  # budgets and counts of one moment (the PAUSED badge)
            rows = store_stats.owner_experiments(conn, user_id)
            stats = store_stats.owner_stats(conn, user_id)
            tag = fingerprint_all(rows, stats)
            if known is not None and tag in _etags(known):
                return tag, None
            items = []
            for row in rows:
                by_status = stats.get(int(row.id), {})
                found, best = self._objective_and_best(conn, row, by_status.get("DONE"))
                items.append(
                    {
                        "name": row.name,
                        "status": row.status,
                        "scheduler": row.scheduler,
                        "createdAt": iso(row.created_at),
                        "lastActivity": iso(_last_activity(row, by_status)),
                        "jobCounts": {s: v.count for s, v in by_status.items()},
                        "maxJobs": store_budget.max_jobs(str(row.options)),
                        "jobsCreated": int(row.jobs_created),
                        "objective": None if found is None else found.as_json(),
                        "best": None if best is None else {"job": best[0], "value": best[1]},
                    }
                )
        return tag, items

    def table(
        self, user_id: int, name: str, since: float | None = None, known: str | None = None, *, full: bool = False
    ) -> Table:
        """The experiment's jobs in columns (see :mod:`.columns`), or only those changed since a cursor.

        ``since`` is the ``cursor`` of an earlier answer: then only jobs
        updated since (minus :data:`OVERLAP`) are sent, with ``"partial":
        true`` and the ``total``, so the caller merges them by ``pk`` and
        reloads everything if its count differs (jobs were deleted). A
        cursor later than the database clock (plus :data:`OVERLAP`), which no
        answer gave, gets a full answer and a cursor of its own: following it, a
        caller would never see a job updated later.

        Without ``since``, a full answer. When this process keeps an earlier
        full answer of the experiment and few jobs changed since, that answer
        is sent with ``"patch"``: a partial answer (as with ``since``) of the
        changes, which the caller merges the same way. ``full`` asks for a
        fresh read instead (after a merge that came out incomplete).
        """
        with self._store.snapshot() as conn:  # stats, columns and budget of one moment
            exp = self._experiment(conn, user_id, name)
            stats = store_stats.experiment_stats(conn, exp.id)
            tag = fingerprint(exp, stats)
            if known is not None and tag in _etags(known):
                return Table(tag, None)
            latest = max((v.last_update for v in stats.values()), default=0.0)
            # No answer gave a cursor past the database clock (unless it went back): the jobs updated from now
            # on would all be older than it, and a caller following it would never see one. A full answer.
            if since is not None and since > latest + OVERLAP and since > store_jobs.now(conn) + OVERLAP:
                since = None
            base = None if since is not None or full else self._base(int(exp.id))
            if base is not None and base.created_at != float(exp.created_at):
                base = None
            if base is not None and base.etag == tag:
                return Table(tag, base.body)
            rows = None
            if since is not None:
                rows = store_stats.columns(conn, exp.id, exp.created_at, since - OVERLAP)
            elif base is not None:
                limit = max(_PATCH_MIN_ROWS, int(base.count * _PATCH_FRACTION))
                rows = store_stats.columns(conn, exp.id, exp.created_at, base.cursor - OVERLAP, limit + 1)
                if len(rows) > limit:
                    base, rows = None, None
            first_done = store_stats.done_results(conn, exp.id, _GUESS_FROM)
            # What a budget counts (hand-added jobs and retries do not), for the PAUSED badge: read only with one.
            created = None if store_budget.max_jobs(str(exp.options)) is None else store_budget.created(conn, exp.id)
            found = objective.default(exp.params, (text for _, text in first_done), exp.options)
        counts = {s: v.count for s, v in stats.items()}
        cursor = max([since or 0.0, *(v.last_update for v in stats.values())])
        header = {
            "experiment": render_experiment(
                exp, {"jobCounts": counts} if created is None else {"jobCounts": counts, "jobsCreated": created}
            ),
            "objective": None if found is None else found.as_json(),
            "total": sum(counts.values()),
            "partial": rows is not None,
            "t0": exp.created_at,
            "cursor": repr(cursor),
        }
        if rows is None:
            return Table(tag, None, self._full(tag, exp, header, cursor))
        changes = columns.render(header, rows)
        if base is None:
            return Table(tag, changes)
        return Table(tag, base.body[:-1] + ',"patch":' + changes + "}")

    def _full(self, tag: str, exp: ExperimentRow, header: dict[str, Any], cursor: float) -> Iterator[str]:
        """Every job, in the lines of a full answer (see :mod:`.columns`), a group of fields per line, in one snapshot.

        The stored JSON texts come first, so the page parses them while the
        service reads the other fields. ``total`` is the count of the jobs
        read (the arrays' length); the rest of ``header`` (counts by status,
        cursor) may be a little older, which the next poll's patch makes up.
        The reads run in a thread of their own, at the database's pace, not
        the reader's: a slow client never holds the snapshot open. The
        answer is kept once every line is read.
        """
        lines: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()

        def read() -> None:
            try:
                with self.heavy.turn() as pause, self._store.snapshot() as conn:
                    groups = store_stats.column_text_groups(conn, exp.id, exp.created_at)
                    for i, (count, texts) in enumerate(groups):
                        pause()
                        if i == 0:
                            header["total"] = count
                            lines.put(columns.head(header))
                        # Each line's newline goes with it: the reader parses it before the next is read.
                        last = i == len(store_stats.FIELD_GROUPS) - 1
                        lines.put(columns.group(texts) + ("\n" if last else ",\n"))
                    lines.put(columns.tail(store_stats.non_finite_results(conn, exp.id)))
                lines.put(None)
            except BaseException as exc:  # handed to the request's thread, which raises it
                lines.put(exc)

        self._reads.submit(read)
        sent: list[str] = []
        while (line := lines.get()) is not None:
            if isinstance(line, BaseException):
                raise line
            sent.append(line)
            yield line
        self._keep(int(exp.id), _Base(tag, "".join(sent), cursor, header["total"], float(exp.created_at)))

    def _base(self, experiment_id: int) -> _Base | None:
        with self._lock:
            return self._bases.get(experiment_id)

    def _keep(self, experiment_id: int, base: _Base) -> None:
        with self._lock:
            self._bases.pop(experiment_id, None)
            while self._bases and sum(len(b.body) for b in self._bases.values()) + len(base.body) > _BODY_CACHE_BYTES:
                self._bases.pop(next(iter(self._bases)))
            if len(base.body) <= _BODY_CACHE_BYTES:
                self._bases[experiment_id] = base

    def importance(self, user_id: int, name: str, result: str | None, direction: str | None) -> str:
        """The PED-ANOVA importance of each hyperparameter for ``result`` (see :mod:`.importance`), as JSON.

        ``{"method", "objective", "direction", "jobs", "done", "sampled",
        "importances": [{"name", "importance"}], "unused": [NAME, ...]}``:
        ``jobs`` is how many finished jobs with a finite objective were used,
        ``done`` how many are DONE; beyond :data:`IMPORTANCE_CAP`, an even
        sample of them in queue order is used and ``sampled`` is true.
        ``unused`` names the hyperparameters declared or held by a finished
        job that no job used has (so they have no importance). The default
        result and direction are the experiment's default objective. The
        declared objective before any finished job has it gives an empty
        list (``jobs`` 0), not an error. Kept until a DONE job changes.

        Raises:
            NotFound: no such experiment.  Invalid: the direction is not
                min/max, finished jobs have no result of that name (and the
                search does not declare it), or there is no result to use.

        """
        if direction is not None and direction not in (objective.MIN, objective.MAX):
            raise Invalid(f"The direction is 'min' or 'max', got {direction[:40]!r}.")
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, name)
            done = store_stats.experiment_stats(conn, exp.id).get("DONE")
            stamp = "" if done is None else f"{done.count}:{done.last_update!r}:{done.versions}:{done.max_pk}"
            declares = f"{stamp}|{exp.params}|{exp.options}"
            key = (int(exp.id), float(exp.created_at), declares, result or "", direction or "")
            with self._lock:
                cached = self._importance.get(key)
            if cached is not None:
                return cached
            # Above the cap, only about one DONE job in `every` is read (by key), then thinned evenly.
            every = 1 if done is None else max(1, done.count // IMPORTANCE_CAP)
            rows = store_samples.done_samples(conn, exp.id, every)
            found = objective.default(exp.params, (text for _, text in rows[:_GUESS_FROM]), exp.options)
            name_of = result or (found.name if found is not None else None)
            needle = json.dumps(name_of, ensure_ascii=False)
            if every > 1 and (name_of is None or not any(needle in text for _, text in rows)):
                # The sample missed what is asked for: read every DONE job before saying it is not there.
                rows = store_samples.done_samples(conn, exp.id)
                found = objective.default(exp.params, (text for _, text in rows[:_GUESS_FROM]), exp.options)
                name_of = result or (found.name if found is not None else None)
                needle = json.dumps(name_of, ensure_ascii=False)
        if name_of is None:
            raise Invalid(f"Experiment '{name}' has no finished job with a numeric result yet.")
        if not any(needle in text for _, text in rows):
            declared = objective.declared(exp.params, exp.options)
            # A search's first minutes: no job has finished (or none has the declared objective yet). That is
            # no error: the answer is empty, as for fewer than MIN_JOBS jobs. A name no finished job has, beside
            # finished jobs and not declared, is a bad request.
            if rows and (declared is None or declared.name != name_of):
                raise Invalid(f"No finished job of experiment '{name}' has a result named {name_of[:100]!r}.")
            rows = []
        if direction is None:
            guessed = objective.guess({name_of: 0.0})  # the direction its name reads as
            direction = (
                found.direction
                if found is not None and found.name == name_of
                else str(guessed.direction if guessed else objective.MAX)
            )
        sampled = (done is not None and done.count > len(rows)) or len(rows) > IMPORTANCE_CAP
        if len(rows) > IMPORTANCE_CAP:
            step = len(rows) / IMPORTANCE_CAP
            rows = [rows[int(i * step)] for i in range(IMPORTANCE_CAP)]
        # One decoder call for every job's texts (not two per job): the rows are valid JSON as stored.
        hps = json.loads("[" + ",".join(hp for hp, _ in rows) + "]")
        results = json.loads("[" + ",".join(res for _, res in rows) + "]")
        pairs = [
            (hp, res[name_of]) for hp, res in zip(hps, results, strict=True) if isinstance(res, dict) and name_of in res
        ]
        space = importance.space_kinds({str(exp.scheduler): json.loads(exp.params)})
        outcome = importance.evaluate(pairs, direction, space)
        ranked = {k for k, _ in outcome.importances}
        # Hyperparameters the search declares or a finished job has, but no job used: a conditional branch no
        # job with a finite objective took. PED-ANOVA has nothing to say about them; the page says so.
        known = dict.fromkeys([*space, *(k for hp in hps if isinstance(hp, dict) for k in hp)])
        unused = sorted(k for k in known if k not in ranked) if ranked else []
        body = dumps(
            {
                "method": importance.METHOD,
                "objective": name_of,
                "direction": direction,
                "jobs": outcome.jobs,
                "done": 0 if done is None else done.count,
                "sampled": sampled,
                "importances": [{"name": k, "importance": v} for k, v in outcome.importances],
                "unused": unused,
            }
        )
        with self._lock:
            if len(self._importance) >= _IMPORTANCE_CACHE_SIZE:
                self._importance.clear()
            self._importance[key] = body
        return body

    def brackets(self, user_id: int, name: str) -> str:
        """``{"brackets": [{"bracket", "jobs", "stops"}]}``: the jobs that reported, per Hyperband bracket.

        Empty for another policy or none (see :mod:`.brackets`: the bracket that never stops has no rung, so
        the rungs alone leave its jobs out).

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, name)
            stored = json.loads(exp.options or "{}").get("earlyStopping")
            found = [] if not stored else brackets.counts(conn, exp.id, stored)
        return dumps({"brackets": found})

    def reports(
        self,
        user_id: int,
        name: str,
        after: int,
        limit: int | None = None,
        *,
        job: str | None = None,
        per_job: int | None = None,
    ) -> str:
        """The experiment's (or one ``job``'s) reports with pk over ``after``, in received order, as columns.

        ``{"after": PK, "more": bool, "job": [...], "step": [...], "attempt": [...], "metrics": [{...}, ...]}``:
        ``after`` is the key to ask from next time (only new reports then),
        ``more`` says another answer follows at once. Non-finite metrics are
        strings, as in the job columns. With ``per_job`` (the experiment's
        reports only), at most about ``per_job`` of each job's reports are
        sent (evenly spaced, the first, the last and the non-finite ones
        among them; ``"thinned": true`` says some were left out): enough to
        draw curves. Every answer holds at most ``limit`` (default
        :data:`REPORTS_PER_ANSWER`) reports, shared by the jobs (at least
        :data:`report_samples.MIN_PER_JOB` each, and the non-finite ones
        besides): when thousands of jobs reported, an answer covers the
        reports up to ``after`` and ``more`` is true.

        On PostgreSQL, an answer stops short of the reports of the last
        :data:`SETTLE_SECONDS` seconds, which the next one sends: a report
        whose key is lower may still commit after them, and the page, which
        asks only for keys above the last it got, would never see it.

        Raises:
            NotFound: no such experiment (or job).

        """
        limit = REPORTS_PER_ANSWER if limit is None else limit
        if per_job is not None and job is None:
            with self.heavy.turn() as pause:
                with self._store.snapshot() as conn:
                    exp = self._experiment(conn, user_id, name)
                    before = store_reports.unsettled_from(conn, exp.id, SETTLE_SECONDS)
                    sampled = report_samples.thinned_after(
                        conn, exp.id, after, per_job, limit, before=before, pause=pause
                    )
                pause()
                return self._report_columns(sampled.rows, sampled.last, more=sampled.more, thinned=sampled.thinned)
        with self._store.snapshot() as conn:
            exp = self._experiment(conn, user_id, name)
            before = store_reports.unsettled_from(conn, exp.id, SETTLE_SECONDS)
            if job is None:
                received = store_reports.after(conn, exp.id, after, limit + 1)
                rows = [(r.pk, r.job_id, r.step, r.metrics, r.attempt) for r in received]
            else:
                found = store_jobs.get(conn, exp.id, job)
                if found is None:
                    raise NotFound(f"Job '{job}' does not exist in experiment '{name}'.")
                page = store_reports.job_page(conn, found.pk, after, limit + 1)
                rows = [(pk, job, step, metrics, attempt) for pk, step, metrics, _, attempt in page]
        if before is not None and rows and rows[-1][0] >= before:  # the last seconds' reports: next time
            rows = [row for row in rows if row[0] < before]
            return self._report_columns(rows, rows[-1][0] if rows else after, more=False)
        more = len(rows) > limit
        rows = rows[:limit]
        return self._report_columns(rows, rows[-1][0] if rows else after, more=more)

    @staticmethod
    def _report_columns(rows: Sequence[Sequence[Any]], last: int, *, more: bool, thinned: bool = False) -> str:
        """Rows ``(pk, job id, step, metrics JSON, attempt)`` as the columns :meth:`reports` answers."""
        metrics = ",".join(columns.browser_json(r[3]) for r in rows)
        return (
            f'{{"after":{int(last)},"more":{"true" if more else "false"},"thinned":{"true" if thinned else "false"},'
            f'"job":{dumps([r[1] for r in rows])},"step":{dumps([r[2] for r in rows])},'
            f'"attempt":{dumps([r[4] for r in rows])},"metrics":[{metrics}]}}'
        )

    def records(self, user_id: int, name: str) -> Iterator[str]:
        """Every job of the experiment in its wire form (:func:`columns.exact_record`), oldest first, as lines.

        For the table's downloads: what ``schedy export`` reads (times in the wire's milliseconds,
        ``updatedAt``, ``endReason``, ``error``…), a page of jobs per transaction. The experiment is
        looked up before the first line, so a missing one answers 404. Each page is read and
        rendered in a turn of :class:`HeavyReads`.
        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, name)
            rows = store_jobs.page(conn, exp.id, None, _RECORDS_PAGE)
        return self._record_lines(exp.id, name, rows)

    def _record_lines(self, experiment_id: int, name: str, rows: Sequence[JobRow]) -> Iterator[str]:
        yield '{"jobs":['
        first = True
        while rows:
            with self.heavy.turn() as pause:
                if not first:
                    with self._store.read() as conn:
                        rows = store_jobs.page(conn, experiment_id, rows[-1].pk, _RECORDS_PAGE)
                texts = []
                for i, row in enumerate(rows):
                    texts.append(columns.exact_record(render_job(row, name)))
                    if i % _RECORDS_PER_PAUSE == 0:
                        pause()
            if texts:
                yield ("\n" if first else ",\n") + ",\n".join(texts)
            first = False
            if len(rows) < _RECORDS_PAGE:
                break
        yield "\n]}\n"

    def job(self, user_id: int, name: str, job_id: str) -> str:
        """One job's JSON (non-finite numbers as strings) with ``etag``, ``children``, ``parentJob`` and more.

        ``error`` is what its current attempt raised (if its worker sent it),
        ``attempts`` the outcomes of its earlier attempts, oldest first.
        """
        with self._store.read() as conn:
            exp = self._experiment(conn, user_id, name)
            row = store_jobs.get(conn, exp.id, job_id)
            if row is None:
                raise NotFound(f"Job '{job_id}' does not exist in experiment '{name}'.")
            kids = store_stats.children(conn, exp.id, job_id)
            parent = None if row.parent is None else store_jobs.get(conn, exp.id, row.parent)
            error = store_attempts.error_of(conn, row.pk)
            earlier = store_attempts.of_job(conn, row.pk)
        head = {  # the job's JSON has its "etag" already
            "children": [_brief(k) for k in kids],
            "parentJob": None if parent is None else _brief(parent),
        }
        tail = ',"error":' + (error or "null") + ',"attempts":[' + ",".join(_attempt(a) for a in earlier) + "]"
        body = columns.browser_json(render_job(row, name, error=False))  # the tail has it, traceback included
        return body[:-1] + "," + dumps(head)[1:-1] + tail + "}"

    def requeue(self, user_id: int, name: str, job_id: str, if_match: str | None) -> JobRow:
        """Start the next attempt of a CRASHED or PRUNED job: back in the queue, ``attempt + 1``.

        The ended attempt's outcome (status, end reason, worker, times,
        results, error) is kept in the job's attempts; a PRUNED job's stop
        decision is cleared, and the early-stopping policy judges the new
        attempt's reports as a new run's. The new attempt keeps
        the hyperparameters and starts from the results a retry starts from:
        its parent's for a PBT job (the checkpoint it continues), none
        otherwise, so the crashed attempt's partial results are not mistaken
        for the new one's.

        Raises:
            NotFound: no such job.  Conflict: the job is neither CRASHED nor PRUNED.
            PreconditionFailed: ``if_match`` names another version.

        """
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, name)
            row = store_jobs.get(conn, exp.id, job_id)
            if row is None:
                raise NotFound(f"Job '{job_id}' does not exist in experiment '{name}'.")
            if if_match is not None and if_match.strip() != "*" and (row.pk, row.version) not in parse_etags(if_match):
                raise PreconditionFailed(f"Job '{job_id}' changed since you read it; reload the page.")
            if row.status not in (store_jobs.CRASHED, store_jobs.PRUNED):
                raise Conflict(f"Only a CRASHED or PRUNED job can be re-queued; job '{job_id}' is {row.status}.")
            store_attempts.record(conn, row, store_attempts.error_of(conn, row.pk))
            parent = None if row.parent is None else store_jobs.get(conn, exp.id, row.parent)
            results = "{}" if parent is None else str(parent.results)
            # Back to QUEUED: the job's next attempt (attempt + 1, stop decision, error and times cleared).
            new = store_jobs.replace(
                conn, exp.id, job_id, store_jobs.QUEUED, row.hyperparameters, results, expected=(row.pk, row.version)
            )
            assert new is not None  # noqa: S101 - same transaction, row just read
            return new

    def set_status(self, user_id: int, name: str, status: str) -> ExperimentRow:
        """Mark an experiment RUNNING or DONE (``nextjob`` hands out nothing while DONE).

        Raises:
            NotFound: no such experiment.  Invalid: another status.

        """
        if status not in ("RUNNING", "DONE"):
            raise Invalid(f"An experiment's status is RUNNING or DONE, got {status!r}.")
        with self._store.write() as conn:
            exp = self._experiment(conn, user_id, name)
            store_experiments.set_status(conn, exp.id, status)
            return self._experiment(conn, user_id, name)


def fingerprint_all(rows: list[ExperimentRow], stats: Mapping[int, Mapping[str, StatusStats]]) -> str:
    """A weak ETag of a user's whole experiment list."""
    tags = [f"{r.id}:{r.name}:{fingerprint(r, stats.get(int(r.id), {}))}" for r in rows]
    return f'W/"{hashlib.blake2b("|".join(tags).encode("utf-8"), digest_size=12).hexdigest()}"'


def _etags(header: str) -> set[str]:
    return {part.strip() for part in header.split(",")}


def _attempt(a: store_attempts.AttemptRow) -> str:
    """An earlier attempt's JSON (its results and error are stored JSON texts, spliced in)."""
    head = dumps(
        {
            "attempt": a.attempt,
            "job": a.job_id,
            "status": a.status,
            "endReason": a.end_reason,
            "worker": a.worker,
            "startedAt": iso(a.started_at),
            "finishedAt": iso(a.finished_at),
        }
    )
    return head[:-1] + ',"results":' + columns.browser_json(a.results) + ',"error":' + (a.error or "null") + "}"


def _brief(row: Any) -> dict[str, Any]:
    return {"id": row.job_id, "status": row.status, "member": row.member, "generation": row.generation}
