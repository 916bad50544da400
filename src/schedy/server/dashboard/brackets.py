"""How many of an experiment's jobs are in each Hyperband bracket, for the "jobs per rung" plot.

The rungs (``GET experiments/NAME/stopping/``) count the jobs that reached
each rung, so Hyperband's last bracket, which never stops (it trains every
job to ``maxStep``: no rung at all), is in none of them. Its jobs are
counted here, with the policy's own :meth:`~schedy.server.stopping.asha.Hyperband.bracket_of`
(a hash of the name the policy knows the job by: its key, see
:func:`schedy.server.service.reports.run_name`), over the jobs that sent a
report: the jobs a rung would count had the bracket one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from schedy.server.service.reports import run_name
from schedy.server.stopping import parse_policy
from schedy.server.stopping.asha import Hyperband
from schedy.server.store import stats

__all__ = ["counts"]


def counts(conn: Connection, experiment_id: int, stored: Any) -> list[dict[str, Any]]:
    """``[{"bracket", "jobs", "stops"}]`` per Hyperband bracket (``stops``: whether it has rungs); ``[]`` otherwise.

    ``stored`` is the experiment's ``earlyStopping`` option, as stored (validated when it was set).
    """
    policy = parse_policy(stored)
    if not isinstance(policy, Hyperband):
        return []
    found = [0] * policy.brackets
    for pk in stats.reported_jobs(conn, experiment_id):
        found[policy.bracket_of(run_name(pk, 1))] += 1  # every attempt of a job is in its bracket
    top = policy.brackets - 1
    return [{"bracket": b, "jobs": n, "stops": b != top} for b, n in enumerate(found)]
