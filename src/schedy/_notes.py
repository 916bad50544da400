"""Notes people keep on an experiment's jobs, read for exports (``GET experiments/NAME/notes/``)."""

from __future__ import annotations

import json

from schedy import _routes
from schedy._transport import Transport
from schedy.errors import ClientRequestError

__all__ = ["job_notes"]


def job_notes(transport: Transport, experiment: str) -> dict[str, str]:
    """Job id → note of every job of the experiment that has one.

    A service older than notes answers 404: it has none (a missing
    experiment is still 404).
    """
    exp_path = _routes.experiment(experiment)
    try:
        answer = transport.request("GET", exp_path + "notes/")
    except ClientRequestError as exc:
        if exc.code != 404:
            raise
        transport.request("GET", exp_path)  # still 404 when the experiment itself is missing: say so
        return {}
    jobs = json.loads(answer.data).get("jobs")
    return {str(k): str(v) for k, v in jobs.items()} if isinstance(jobs, dict) else {}
