"""Reports thinned for drawing: at most a few hundred points per job, whatever a job reported.

A job reporting every batch holds tens of thousands of reports; the
dashboard draws its learning curve a few hundred pixels wide. Sending every
report of an experiment of 200 such jobs (2M reports, about 100 MB of JSON)
took the page 10–20 s; :func:`thinned_after` picks, per job, evenly spaced
reports by rank (its first and last always, and every report holding a
non-finite value, which the curves mark) and reads only those rows.

What it reads: every job's report keys from the covering index
``(job_pk, pk)`` (integers only, no metrics text), the keys of the reports
holding ``NaN`` or ``Infinity`` (a scan of the text, only when some job is
thinned), then the chosen rows by key: 1.4 s in process for 2M reports of
200 jobs on SQLite here (0.7 s the keys, 0.3 s the scan for non-finite
values), against the 9 s their full read and transfer took.

One answer holds at most :data:`MOST_ROWS` reports (or the caller's
limit), whatever the number of jobs: when more are chosen (thousands of
jobs, at least :data:`MIN_PER_JOB` each), it holds the first of them by key
and says there is more; the next call, from its last key, thins what
follows. The keys are read a job at a time, never all at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, or_, select

from schedy.server.store.compiled import _execute, compiled
from schedy.server.store.tables import jobs, reports

__all__ = ["MIN_PER_JOB", "MOST_ROWS", "Thinned", "evenly", "thinned_after"]

#: How many chosen rows are read per statement (a bound list per statement).
_ROWS_PER_READ = 500
#: How many keys are fetched at a time from a statement read as a stream (the caller's pause between).
_KEYS_PER_FETCH = 2000
#: About how many reports one answer holds at most, shared by the jobs that reported since…
MOST_ROWS = 50_000
#: …but never fewer than this many per job (a curve of 16 points still shows its shape).
MIN_PER_JOB = 16


def evenly(keys: list[int], most: int) -> list[int]:
    """At most ``most`` (≥ 2) of ``keys`` spread evenly by rank, the first and the last among them."""
    if len(keys) <= most:
        return keys
    last = len(keys) - 1
    return sorted({keys[round(i * last / (most - 1))] for i in range(most)})


def _p(name: str) -> Any:
    return bindparam(f"p_{name}")


def _mine() -> Any:
    return select(jobs.c.pk).where(jobs.c.experiment_id == _p("experiment")).scalar_subquery()


@cache
def _counts_statement() -> Select[Any, Any]:
    # How many reports each job sent after the key, and the last key: from the index (job_pk, pk) alone.
    return (
        select(func.count(), func.max(reports.c.pk))
        .where(reports.c.job_pk.in_(_mine()), reports.c.pk > _p("after"))
        .group_by(reports.c.job_pk)
    )


@cache
def _first_statement() -> Select[Any]:
    # The first reports after the key, in received order (the index (experiment_id, pk)).
    return (
        select(reports.c.pk)
        .where(reports.c.experiment_id == _p("experiment"), reports.c.pk > _p("after"), reports.c.pk <= _p("until"))
        .order_by(reports.c.pk)
        .limit(_p("limit"))
    )


@cache
def _keys_statement() -> Select[Any]:
    # The experiment's jobs first, then each one's reports from the index (job_pk, pk): no table row is read.
    return (
        select(reports.c.job_pk, reports.c.pk)
        .where(reports.c.job_pk.in_(_mine()), reports.c.pk > _p("after"), reports.c.pk <= _p("until"))
        .order_by(reports.c.job_pk, reports.c.pk)
    )


@cache
def _non_finite_statement() -> Select[Any]:
    return select(reports.c.pk).where(
        reports.c.experiment_id == _p("experiment"),
        reports.c.pk > _p("after"),
        reports.c.pk <= _p("until"),
        or_(reports.c.metrics.like("%NaN%"), reports.c.metrics.like("%Infinity%")),
    )


def _no_pause() -> None:
    pass


def _stream(
    conn: Connection, build: Callable[[], Select[Any]], params: dict[str, Any], pause: Callable[[], None] = _no_pause
) -> Iterator[tuple[Any, ...]]:
    """The statement's rows, fetched a few thousand at a time (not all held at once), ``pause`` called between."""
    cursor = _execute(conn, compiled(conn, build), params)
    try:
        while batch := cursor.fetchmany(_KEYS_PER_FETCH):
            yield from batch
            pause()
    finally:
        cursor.close()


def _rows(conn: Connection, keys: list[int], pause: Callable[[], None] = _no_pause) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), _ROWS_PER_READ):
        pause()
        part = keys[start : start + _ROWS_PER_READ]
        query = (
            select(reports.c.pk, jobs.c.job_id, reports.c.step, reports.c.metrics, reports.c.attempt)
            .join(jobs, jobs.c.pk == reports.c.job_pk)
            .where(reports.c.pk.in_(part))
        )
        rows += [tuple(r) for r in conn.execute(query)]
    rows.sort(key=lambda r: r[0])
    return rows


@dataclass(frozen=True)
class Thinned:
    """What :func:`thinned_after` read: the rows, the last key considered, and whether some were left out or follow."""

    rows: list[tuple[Any, ...]]
    last: int
    thinned: bool
    more: bool


def thinned_after(
    conn: Connection,
    experiment_id: int,
    after_pk: int,
    per_job: int,
    most_rows: int = MOST_ROWS,
    *,
    before: int | None = None,
    pause: Callable[[], None] = _no_pause,
) -> Thinned:
    """The experiment's reports after ``after_pk``, at most about ``per_job`` per job, in pk order.

    With many jobs, each gets fewer (``most_rows`` shared, at least
    :data:`MIN_PER_JOB`). When more than ``most_rows`` reports are chosen
    still (thousands of jobs, or many non-finite values), only the first
    ``most_rows`` of them by key are returned, with ``more``: the next call,
    from the last of them, thins what follows.

    ``before``: consider only keys below it (reports from it on may not have settled:
    :func:`~schedy.server.store.reports.unsettled_from`). ``pause`` is called
    between batches of keys and of rows: a caller sharing the interpreter
    (the dashboard's heavy reads) may give it away there.

    Returns the rows ``(pk, job id, step, metrics JSON, attempt)``, the last
    key considered (ask from there next time), whether any job was thinned,
    and whether chosen reports were left for the next call. What is held
    meanwhile: one job's keys at a time, the chosen keys (``most_rows`` at
    most) and the keys of the non-finite values. Run it in one snapshot
    (:meth:`schedy.server.store.Store.snapshot`).
    """
    params: dict[str, Any] = {"p_experiment": experiment_id, "p_after": after_pk}
    jobs_seen, longest, until = 0, 0, after_pk
    for count, last in _stream(conn, _counts_statement, params, pause):
        jobs_seen += 1
        longest = max(longest, int(count))
        until = max(until, int(last))
    if before is not None:
        until = min(until, max(after_pk, before - 1))
    # Many jobs share the answer's size: each keeps at least MIN_PER_JOB points.
    most = max(MIN_PER_JOB, min(per_job, most_rows // max(1, jobs_seen)))
    thinned = longest > most
    params["p_until"] = until
    if not thinned:  # every report is sent: the first ones by key, read from the index alone
        params["p_limit"] = most_rows + 1
        chosen = [int(pk) for (pk,) in _stream(conn, _first_statement, params, pause)]
        more = len(chosen) > most_rows
        chosen = chosen[:most_rows]
        return Thinned(_rows(conn, chosen, pause), chosen[-1] if more else until, False, more)
    # A value the curves mark must not be thinned away.
    marked = {int(pk) for (pk,) in _stream(conn, _non_finite_statement, params, pause)}
    first: list[int] = []  # the smallest `most_rows` chosen keys, as a heap of their negatives
    more = False

    def choose(keys: list[int]) -> None:
        nonlocal more
        picked = set(evenly(keys, most))
        for pk in keys:
            if pk in picked or pk in marked:
                if len(first) < most_rows:
                    heapq.heappush(first, -pk)
                else:
                    more = True
                    if -first[0] > pk:
                        heapq.heapreplace(first, -pk)

    keys: list[int] = []
    current: int | None = None
    for job_pk, pk in _stream(conn, _keys_statement, params, pause):
        if job_pk != current:  # a job's keys come together, in order: thin each as soon as it ends
            choose(keys)
            current, keys = job_pk, []
        keys.append(int(pk))
    choose(keys)
    chosen = sorted(-pk for pk in first)
    # Beyond the answer's size, it covers the reports up to its last, and the next call thins what follows.
    return Thinned(_rows(conn, chosen, pause), chosen[-1] if more else until, thinned, more)
