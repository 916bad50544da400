"""Why a job crashed: the error its worker sends, kept with the job's attempt.

A worker whose code raised inside ``with job:`` marks the job CRASHED (as
before), then sends ``PUT experiments/NAME/jobs/ID/error/`` with the
exception's type, message and the tail of its traceback. The service keeps it
on the job (end reason ``raised``); re-queueing the job keeps that attempt's
outcome (see :mod:`schedy.server.store.attempts`) and the dashboard shows
every attempt with its error.
"""

from __future__ import annotations

from typing import Any

from schedy.server.errors import Conflict, Invalid, NotFound
from schedy.server.store import Store
from schedy.server.store import attempts as store_attempts
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store.jobs import JobRecord
from schedy.server.wire import dumps

#: Longest accepted fields of an error, in characters (clients send less: see schedy._jobs).
MAX_TYPE, MAX_MESSAGE, MAX_TRACEBACK = 200, 10_000, 50_000


def parse_error(body: Any) -> dict[str, str]:
    """``{"type", "message", "traceback"?}`` checked: strings, not too long.

    Raises:
        Invalid: another shape, or a field over its limit.

    """
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not isinstance(body.get("message"), str):
        raise Invalid('Send the error as {"type": "...", "message": "...", "traceback": "..."} with strings.')
    unknown = sorted(body.keys() - {"type", "message", "traceback"})
    if unknown:
        raise Invalid(f"Unknown error field(s) {', '.join(map(repr, unknown))}; an error has type, message, traceback.")
    traceback = body.get("traceback", "")
    if not isinstance(traceback, str):
        raise Invalid("The error's traceback must be a string.")
    for name, value, limit in (
        ("type", body["type"], MAX_TYPE),
        ("message", body["message"], MAX_MESSAGE),
        ("traceback", traceback, MAX_TRACEBACK),
    ):
        if len(value) > limit:
            raise Invalid(f"The error's {name} has {len(value)} characters, more than the {limit} accepted.")
    if not body["type"].strip():
        raise Invalid("The error's type must not be empty.")
    return {"type": body["type"], "message": body["message"], "traceback": traceback}


class Attempts:
    """Use cases on a job's attempts, each one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def check_job(self, user_id: int, experiment: str, job_id: str) -> None:
        """Raise :class:`NotFound` unless the caller has that job (before its request body is read)."""
        with self._store.read() as conn:
            exp = store_experiments.get_record(conn, user_id, experiment)
            if exp is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            if store_jobs.get(conn, exp.id, job_id) is None:
                raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")

    def report_error(self, user_id: int, experiment: str, job_id: str, error: dict[str, str]) -> JobRecord:
        """Keep the error of a CRASHED job's current attempt; its end reason becomes ``raised``.

        Raises:
            NotFound: no such experiment or job.  Conflict: the job is not CRASHED.

        """
        with self._store.write() as conn:
            exp = store_experiments.get_record(conn, user_id, experiment)
            if exp is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            brief = dumps({"type": error["type"], "message": error["message"]})
            row = store_attempts.set_error(conn, exp.id, job_id, dumps(error), brief)
            if row is not None:
                return row
            current = store_jobs.get(conn, exp.id, job_id)
        if current is None:
            raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
        raise Conflict(f"Only a CRASHED job has an error; job '{job_id}' is {current.status}.")
