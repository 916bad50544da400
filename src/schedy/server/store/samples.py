"""The finished jobs' hyperparameters and results, for the dashboard's importance."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from schedy.server.store.tables import jobs

__all__ = ["done_samples"]


@cache
def _statement() -> Select[Any]:
    return (
        select(jobs.c.hyperparameters, jobs.c.results)
        .where(jobs.c.experiment_id == bindparam("p_experiment"), jobs.c.status == "DONE")
        .order_by(jobs.c.priority, jobs.c.pk)
    )


def done_samples(conn: Connection, experiment_id: int) -> list[tuple[str, str]]:
    """``(hyperparameters, results)`` JSON texts of the experiment's DONE jobs, in the queue index's order."""
    return [(str(r[0]), str(r[1])) for r in conn.execute(_statement(), {"p_experiment": experiment_id})]
