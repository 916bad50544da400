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
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, or_, select

from schedy.server.store.compiled import compiled, fetch_all
from schedy.server.store.tables import jobs, reports

__all__ = ["MIN_PER_JOB", "MOST_ROWS", "evenly", "thinned_after"]

#: How many chosen rows are read per statement (a bound list per statement).
_ROWS_PER_READ = 500
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


@cache
def _keys_statement() -> Select[Any]:
    # The experiment's jobs first, then each one's reports from the index (job_pk, pk): no table row is read.
    mine = select(jobs.c.pk).where(jobs.c.experiment_id == _p("experiment")).scalar_subquery()
    return (
        select(reports.c.job_pk, reports.c.pk)
        .where(reports.c.job_pk.in_(mine), reports.c.pk > _p("after"))
        .order_by(reports.c.job_pk, reports.c.pk)
    )


@cache
def _non_finite_statement() -> Select[Any]:
    return select(reports.c.pk).where(
        reports.c.experiment_id == _p("experiment"),
        reports.c.pk > _p("after"),
        or_(reports.c.metrics.like("%NaN%"), reports.c.metrics.like("%Infinity%")),
    )


def _rows(conn: Connection, keys: list[int]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), _ROWS_PER_READ):
        part = keys[start : start + _ROWS_PER_READ]
        query = (
            select(reports.c.pk, jobs.c.job_id, reports.c.step, reports.c.metrics, reports.c.attempt)
            .join(jobs, jobs.c.pk == reports.c.job_pk)
            .where(reports.c.pk.in_(part))
        )
        rows += [tuple(r) for r in conn.execute(query)]
    rows.sort(key=lambda r: r[0])
    return rows


def thinned_after(
    conn: Connection, experiment_id: int, after_pk: int, per_job: int
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """The experiment's reports after ``after_pk``, at most about ``per_job`` per job, in pk order.

    With many jobs, each gets fewer (:data:`MOST_ROWS` shared, at least :data:`MIN_PER_JOB`).

    Returns the rows ``(pk, job id, step, metrics JSON, attempt)``, the last
    key considered (ask from there next time), and whether any job was
    thinned. Run it in one snapshot (:meth:`schedy.server.store.Store.snapshot`).
    """
    params = {"p_experiment": experiment_id, "p_after": after_pk}
    by_job: list[list[int]] = []
    current: int | None = None
    for job_pk, pk in fetch_all(conn, compiled(conn, _keys_statement), params):
        if job_pk != current:
            current = job_pk
            by_job.append([])
        by_job[-1].append(pk)
    # Many jobs share the answer's size: each keeps at least MIN_PER_JOB points.
    most = max(MIN_PER_JOB, min(per_job, MOST_ROWS // max(1, len(by_job))))
    chosen: list[int] = []
    thinned = False
    for keys in by_job:
        picked = evenly(keys, most)
        thinned = thinned or len(picked) < len(keys)
        chosen += picked
    last = max((keys[-1] for keys in by_job), default=after_pk)
    if thinned:  # a value the curves mark must not be thinned away
        have = set(chosen)
        chosen += [pk for (pk,) in fetch_all(conn, compiled(conn, _non_finite_statement), params) if pk not in have]
    chosen.sort()
    return _rows(conn, chosen), last, thinned
