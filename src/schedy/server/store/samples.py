"""The finished jobs' hyperparameters and results, for the dashboard's importance."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from schedy.server.store.tables import jobs

__all__ = ["done_samples"]


@cache
def _statement(thinned: bool) -> Select[Any]:
    query = select(jobs.c.hyperparameters, jobs.c.results).where(
        jobs.c.experiment_id == bindparam("p_experiment"), jobs.c.status == "DONE"
    )
    if thinned:
        query = query.where(jobs.c.pk % bindparam("p_every") == 0)
    return query.order_by(jobs.c.priority, jobs.c.pk)


def done_samples(conn: Connection, experiment_id: int, every: int = 1) -> list[tuple[str, str]]:
    """``(hyperparameters, results)`` JSON texts of the experiment's DONE jobs, in the queue index's order.

    With ``every`` > 1, only the jobs whose key is a multiple of it: about one in ``every``, spread
    over the whole experiment, the others never read (nor sent, nor decoded).
    """
    params = {"p_experiment": experiment_id, "p_every": every}
    return [(str(hp), str(res)) for hp, res in conn.execute(_statement(every > 1), params).all()]
