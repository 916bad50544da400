"""Experiments: create, replace, read, list, delete."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection

from schedy.server.errors import Conflict, Invalid, NotFound, PreconditionFailed, session_ended
from schedy.server.legacy import keeps_stored
from schedy.server.schedulers.registry import load_scheduler
from schedy.server.store import Store, budget
from schedy.server.store import experiments as store_experiments
from schedy.server.store import leases as store_leases
from schedy.server.store import users as store_users
from schedy.server.store.experiments import ExperimentRow
from schedy.server.wire import ExperimentInput, check_policy_fits, dumps, stored_sampler, wire_scheduler, with_sampler

#: Jobs deleted per transaction when an experiment is deleted (with their reports): tens of milliseconds.
DELETE_BATCH = 2000


def _set(options: dict[str, Any]) -> dict[str, Any]:
    """The options that have a value: a null sent for one unsets it."""
    return {key: value for key, value in options.items() if value is not None}


def _loaded(stored: tuple[str, str]) -> tuple[str, Any]:
    """A stored scheduler's name and its parameters, parsed."""
    return stored[0], json.loads(stored[1])


def _only(scheduler: dict[str, Any]) -> tuple[str, Any]:
    """``{name: params}`` → ``(name, params)``."""
    ((name, params),) = scheduler.items()
    return name, params


def _end_if_spent(conn: Connection, experiment_id: int, scheduler: str, params: str, options: str) -> None:
    """A budget set at or below the jobs made, nothing queued or running: the search is over, DONE now.

    The rule of the service's sweep (:meth:`schedy.server.service.claims.Claims.settle`), applied in the
    transaction that sets ``maxJobs`` so that its answer, and the next read, say DONE (``schedy set
    --max-jobs`` tells it). A search that may still retry a crashed job is left to its next decision.
    """
    limit = budget.max_jobs(options)
    if limit is None or not budget.spent(conn, experiment_id, limit):
        return
    if load_scheduler(scheduler, params).retries_crashed_jobs and store_leases.max_retries(options) > 0:
        return
    budget.finish_if_idle(conn, experiment_id)


class Experiments:
    """Use cases on experiments, each one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put(
        self,
        user_id: int,
        name: str,
        spec: ExperimentInput,
        *,
        create_only: bool,
        replace_only: bool = False,
        legacy: bool = False,
        sampler_inside: bool = False,
    ) -> tuple[ExperimentRow, bool]:
        """Create the experiment, or replace its status, scheduler and given options.

        What the body leaves out is kept on a replace: its status (a paused
        search stays paused), its scheduler, its options, a random search's
        sampler; so two clients changing different things at once (``schedy
        set --max-jobs`` and a pause) both get theirs. A creation needs a
        scheduler; its status is RUNNING unless given. Returns the row and
        whether it was created.

        ``legacy``: the body comes from the 2018 client, whose scheduler is kept as stored when it only
        echoes what that client was shown of it (:func:`schedy.server.legacy.keeps_stored`).
        ``sampler_inside``: from Schedy's client of 0.2.0.dev0, whose random search carries its sampler
        inside (a plain space is its i.i.d. draws, not a search that keeps the stored sampler).

        Raises:
            PreconditionFailed: ``create_only`` and the name exists, or ``replace_only`` and it does not.
            Invalid: no scheduler was given, and there is no experiment to keep its scheduler; or the options'
                early-stopping policy ranks the kept scheduler's objective the other way.

        """
        params = None if spec.scheduler is None else dumps(spec.scheduler.to_params())
        with self._store.write() as conn:
            # Locked (PostgreSQL) until the transaction ends: what the body leaves out is read and written
            # back, and a concurrent change of it (another client's option, the search ending DONE) must not
            # be undone by this write.
            existing = None if create_only else store_experiments.get(conn, user_id, name, lock=True)
            if existing is None:
                if replace_only:
                    raise PreconditionFailed(f"Experiment '{name}' does not exist, so If-Match: * fails; nothing made.")
                if spec.scheduler is None or params is None:
                    if create_only and store_experiments.get(conn, user_id, name) is not None:
                        raise PreconditionFailed(f"Experiment '{name}' already exists.")
                    raise Invalid(
                        f"Experiment '{name}' does not exist, and a new experiment needs a scheduler, "
                        'e.g. {"scheduler": {"Manual": null}}; nothing was made.'
                    )
                if not store_users.owner_is_live(conn, user_id):  # removed meanwhile: nothing of it may outlive that
                    raise session_ended()
                row = store_experiments.create(
                    conn,
                    user_id,
                    name,
                    spec.status or "RUNNING",
                    spec.scheduler.name,
                    params,
                    dumps(_set(spec.options)),
                )
                if row is not None:
                    return row, True
                if create_only:
                    raise PreconditionFailed(f"Experiment '{name}' already exists.")
                # Created by another request since the read (PostgreSQL: workers starting the same
                # script at once): a plain PUT replaces it, as it would have a moment later.
                existing = store_experiments.get(conn, user_id, name, lock=True)
                if existing is None:
                    raise Conflict(
                        f"Experiment '{name}' was created and deleted meanwhile by other requests; send again."
                    )
            # Options the body leaves out are kept (the 2018 client knows none); null unsets one.
            options = _set({**json.loads(existing.options), **spec.options})
            status = spec.status or existing.status
            kept = existing.scheduler, existing.params
            if spec.scheduler is None:
                scheduler, params = kept
                if spec.sampler is not None:
                    params = dumps(with_sampler(scheduler, json.loads(params), spec.sampler))
                if "earlyStopping" in spec.options:
                    check_policy_fits(options.get("earlyStopping"), load_scheduler(scheduler, params))
            else:
                scheduler = spec.scheduler.name
                sent = spec.scheduler.to_params()
                params = dumps(sent)
                shown = _only(wire_scheduler(*_loaded(kept))[0])  # what a client reading it was shown
                if legacy and keeps_stored(wire_scheduler(scheduler, sent)[0], *shown):
                    scheduler, params = kept  # the 2018 client echoing the search it was shown: nothing changes
                elif (
                    scheduler == "RandomSearch"
                    and spec.sampler is None
                    and not sampler_inside
                    and stored_sampler(scheduler, sent) == "iid"
                ):
                    # A random search sent without a sampler keeps the experiment's, as other options are kept.
                    params = dumps(with_sampler(scheduler, sent, stored_sampler(*_loaded(kept))))
            store_experiments.replace(conn, existing.id, status, scheduler, params, dumps(options))
            if options.get("maxJobs") is not None and budget.max_jobs(existing.options) is None:
                # A budget set on a search that already ran: what it created so far counts.
                budget.recount(conn, existing.id)
            if "maxJobs" in spec.options and options.get("maxJobs") is not None:
                _end_if_spent(conn, existing.id, scheduler, params, dumps(options))
            row = store_experiments.get(conn, user_id, name)
            assert row is not None  # noqa: S101 - same transaction, just written
            return row, False

    def get(self, user_id: int, name: str, *, counts: bool = False) -> tuple[ExperimentRow, dict[str, Any] | None]:
        """The experiment and, if asked, its counts: ``jobCounts`` by status and ``jobsCreated``.

        ``jobsCreated`` is how many jobs the search created, what a ``maxJobs``
        budget counts (jobs added by hand and retries are not).

        Raises:
            NotFound: no such experiment for this user.

        """
        # With counts, one snapshot: a claim committed between two statements would show the budget
        # spent (jobsCreated) by a job the counts do not hold yet, a search over while a job runs.
        with self._store.snapshot() if counts else self._store.read() as conn:
            row = store_experiments.get(conn, user_id, name)
            if row is None:
                raise NotFound(f"Experiment '{name}' does not exist.")
            if not counts:
                return row, None
            return row, {
                "jobCounts": store_experiments.status_counts(conn, row.id),
                # Counted as jobs are made under a budget; else from the jobs (no counter is kept).
                "jobsCreated": (
                    budget.created(conn, row.id) or 0
                    if budget.max_jobs(row.options) is not None
                    else budget.search_created(conn, row.id)
                ),
            }

    def page(self, user_id: int, after: int | None, limit: int) -> tuple[list[ExperimentRow], int | None]:
        """One page of the user's experiments and the key to continue after, if any."""
        with self._store.read() as conn:
            rows = store_experiments.page(conn, user_id, after, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None

    def delete(self, user_id: int, name: str, *, ensure: bool) -> None:
        """Delete the experiment and its jobs.

        Raises:
            PreconditionFailed: ``ensure`` and it did not exist.

        """
        with self._store.write() as conn:
            experiment_id = store_experiments.detach_named(conn, user_id, name)
        if experiment_id is None:
            if ensure:
                raise PreconditionFailed(f"Experiment '{name}' does not exist; it may have been deleted already.")
            return
        # The name is free and nothing is handed out any more; the jobs go in short transactions,
        # so other requests (claims on SQLite's one writer above all) interleave with a big delete.
        self.finish_delete(experiment_id)

    def finish_delete(self, experiment_id: int) -> None:
        """Delete a detached experiment's jobs batch by batch, then the experiment."""
        while True:
            started = time.monotonic()
            with self._store.write() as conn:
                if store_experiments.delete_jobs_batch(conn, experiment_id, DELETE_BATCH) < DELETE_BATCH:
                    break
            # Claims waiting for SQLite's writer go between the batches (for at most as long as one took).
            self._store.make_way(time.monotonic() - started)
        with self._store.write() as conn:
            store_experiments.delete_detached(conn, experiment_id)

    def finish_deletes(self) -> int:
        """Finish the deletes a stopped service left half-way; how many there were."""
        with self._store.read() as conn:
            pending = store_experiments.detached(conn)
        for experiment_id in pending:
            self.finish_delete(experiment_id)
        return len(pending)

    def events(self, user_id: int, name: str, after: int | None, limit: int) -> tuple[list[Any], int | None]:
        """One page of the experiment's event log (e.g. PBT exploits)."""
        with self._store.read() as conn:
            row = store_experiments.get(conn, user_id, name)
            if row is None:
                raise NotFound(f"Experiment '{name}' does not exist.")
            rows = store_experiments.events(conn, row.id, after, limit + 1)
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None
