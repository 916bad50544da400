"""Experiments whose search may be over while no worker asks for a job (read by the service's sweep).

A search that can end (a grid, PBT, any search with ``maxJobs``) is marked
DONE by a claim that finds nothing left to do. When the last job ends and no
claim follows (a worker per job, as a SLURM array runs them; the last worker
stopped), the sweep finds the experiment here and asks its search
(:meth:`schedy.server.service.claims.Claims.settle`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, exists, func, or_, select

from schedy.server.store.experiments import COLUMNS, ExperimentRecord
from schedy.server.store.jobs import DONE, QUEUED, RUNNING
from schedy.server.store.tables import experiments, jobs

__all__ = ["idle_unfinished"]


def idle_unfinished(conn: Connection, schedulers: Sequence[str]) -> list[tuple[ExperimentRecord, float]]:
    """Experiments not DONE that may end without a claim, with jobs but none QUEUED or RUNNING.

    "May end": their scheduler is one of ``schedulers``, or they have a ``maxJobs`` option. Each comes
    with the time its jobs last changed (an index probe), so a caller asks again only after a change.
    """
    busy = exists().where(jobs.c.experiment_id == experiments.c.id, jobs.c.status.in_((QUEUED, RUNNING)))
    changed = select(func.max(jobs.c.updated_at)).where(jobs.c.experiment_id == experiments.c.id).scalar_subquery()
    query = select(*COLUMNS, changed).where(
        experiments.c.status != DONE,
        or_(experiments.c.scheduler.in_(list(schedulers)), experiments.c.options.like('%"maxJobs"%')),
        ~busy,
    )
    return [(ExperimentRecord._make(row[:-1]), float(row[-1])) for row in conn.execute(query) if row[-1] is not None]
