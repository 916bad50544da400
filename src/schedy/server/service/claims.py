"""The claim (``nextjob``): one plan for every database and every scheduler.

1. **Take the queue head.** Find the experiment and, unless it is DONE, make
   its oldest queued job RUNNING for the worker: a queued job (added by hand,
   or a retry) always goes before new work. How the statements run is the
   store's business (:mod:`schedy.server.store.claims`): one transaction on
   SQLite, single-statement steps on PostgreSQL.
2. **A scheduler that reads no history** (random search, manual) decides
   from nothing but its settings and a fresh RNG; its new job is inserted in
   the same step. It costs the same whatever the experiment's size, and runs
   inline on the event loop on SQLite.
3. **A scheduler that reads the history** (PBT; model-based searches)
   leaves the event loop, reads the experiment's history from the
   per-process cache (:mod:`schedy.server.service.history`: only what
   changed since the last refresh is read), decides **outside any write
   lock**, then commits the decision, its RNG state, events and new job in
   one short write transaction, provided no other decision was committed
   since the history was read (a compare-and-set on ``decision_seq``). If
   another came first, it reads again and decides again; after
   ``OPTIMISTIC_TRIES`` lost races it decides under the experiment's lock,
   where it cannot lose. So no two decisions are ever made from the same
   state, with any number of workers and service processes. Within one
   process, the decisions of one experiment take turns (a lock per
   experiment): they would only race each other to the compare-and-set,
   all but one deciding in vain, while claims of other experiments go on.
   A claim that continues in the thread pool from the event loop
   (PostgreSQL) waits for its turn on the loop, holding no thread, and runs
   in threads of the claims' own (``THREADS``); on SQLite a claim that
   leaves the loop runs in those threads too (``Store.run``'s limiter), so
   claims queued behind a long decision never fill the thread pool that
   logins and every other request need. Across processes the compare-and-set (and, when contended,
   the experiment's row lock) keeps decisions apart as before.

With the ``maxJobs`` option, each new job the scheduler decides takes one
unit of the experiment's budget first (:mod:`schedy.server.store.budget`, an
atomic conditional update); once it is spent the claim hands out queued jobs
only, and the experiment becomes DONE when nothing is QUEUED or RUNNING.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from schedy.server.errors import NotFound
from schedy.server.schedulers.base import Decision, NewJob, Scheduler, Snapshot
from schedy.server.schedulers.registry import SCHEDULERS, load_scheduler
from schedy.server.service.history import Histories, History
from schedy.server.store import Store, budget, decisions, idle
from schedy.server.store import attempts as store_attempts
from schedy.server.store import experiments as store_experiments
from schedy.server.store import history as store_history
from schedy.server.store import jobs as store_jobs
from schedy.server.store import leases as store_leases
from schedy.server.store.claims import AsyncClaimStep, ClaimStep, NewRow, insert_claimed
from schedy.server.store.experiments import ExperimentRecord
from schedy.server.store.jobs import DONE, JobRecord
from schedy.server.wire import dumps

__all__ = ["OPTIMISTIC_TRIES", "Claims"]

#: Decisions tried outside the lock before deciding under it.
OPTIMISTIC_TRIES = 3
#: Experiments whose definition a process keeps for one-statement claims (forgotten all at once past it).
HINTS = 1024
#: Claims continuing in the thread pool at once, per process (the pool holds 40 threads).
THREADS = 16
_EMPTY = Snapshot()
_thread_rng = threading.local()


def _fresh_rng() -> random.Random:
    rng = getattr(_thread_rng, "rng", None)
    if rng is None:
        rng = _thread_rng.rng = random.Random()  # noqa: S311 - search sampling, not secrets
    return rng


def _new_row(new: NewJob) -> NewRow:
    return NewRow(dumps(new.hyperparameters), dumps(new.results), new.member, new.generation, new.parent, new.attempt)


def _base(state: str | None, options: str) -> int:
    """The experiment's random base: from its stored state, else from its ``seed`` option, else drawn."""
    if state is not None:
        loaded = json.loads(state)
        if isinstance(loaded, dict):
            return int(loaded["base"])
        # A whole Mersenne Twister state, as stored before 0.4: carried on from where it was.
        version, internal, gauss = loaded
        earlier = random.Random()  # noqa: S311 - search sampling
        earlier.setstate((version, tuple(internal), gauss))
        return earlier.getrandbits(63)
    seed = json.loads(options).get("seed")
    if seed is None:
        return _fresh_rng().getrandbits(63)
    return random.Random(seed).getrandbits(63)  # noqa: S311 - search sampling


def _decision_rng(state: str | None, options: str, seq: int) -> tuple[random.Random, int, str]:
    """The RNG of the experiment's decision number ``seq``, the experiment's random base, and the state to store.

    Each decision gets a stream of its own, seeded by the experiment's random base and the decision's
    number: reproducible from the ``seed`` option with one worker, and what is stored is the base alone
    (a few bytes; a whole Mersenne Twister state is 7 KB of JSON, written at every decision), plus,
    once a quasi-random point was handed out, the sequence's next index (:func:`_state_to_store`). The
    base itself is the snapshot's ``key``: the same at every decision, for what must not change between
    them (a quasi-random sequence's scramble, a grid's order).
    """
    base = _base(state, options)
    return random.Random(f"{base}:{seq}"), base, json.dumps({"base": base})  # noqa: S311 - search sampling


def _sequence_next(state: str | None) -> int | None:
    """The quasi-random sequence's next index stored with the last decision (``"next"``); ``None`` if none was.

    It is written with each decision, so the compare-and-set on ``decision_seq`` that keeps two decisions
    from being made from one state keeps two claims from getting one index too.
    """
    if state is None:
        return None
    loaded = json.loads(state)
    if isinstance(loaded, dict) and "next" in loaded:
        return int(loaded["next"])
    return None


def _state_to_store(base: int, stored_next: int | None, decision: Decision) -> str:
    """The experiment's RNG state after ``decision``: its base, and the sequence's next index, never lowered."""
    state: dict[str, int] = {"base": base}
    following = decision.sequence_next
    if stored_next is not None:
        following = stored_next if following is None else max(following, stored_next)
    if following is not None:
        state["next"] = following
    return json.dumps(state)


def _options(options: str) -> Mapping[str, Any]:
    """The experiment's stored options, as the snapshot shows them (read-only)."""
    loaded = json.loads(options) if options else {}
    return MappingProxyType(loaded if isinstance(loaded, dict) else {})


class _Lost(Exception):
    """Another decision was committed since the history was read."""


class Claims:
    """The ``nextjob`` use case (see the module docstring)."""

    def __init__(self, store: Store, histories: Histories | None = None) -> None:
        self._store = store
        self.histories = histories if histories is not None else Histories(store)
        # PostgreSQL, on the event loop: the definition of experiments recently claimed from whose
        # scheduler reads no history, by (owner, name), so the next claim decides before its statement.
        self._hints: dict[tuple[int, str], _Hint] = {}
        # Decisions of one experiment in this process take turns (see the module docstring).
        self._turns: dict[tuple[int, float], threading.Lock] = {}
        self._turns_lock = threading.Lock()
        # The same turns, waited for on the event loop before a claim moves to a thread (claim_async).
        self._loop_turns: dict[tuple[int, float], asyncio.Lock] = {}
        self._threads = CapacityLimiter(THREADS)
        #: The claims' own threads, for a caller moving a claim off the event loop (SQLite: Store.run).
        self.threads = self._threads
        # settle(): when each idle experiment's jobs last changed, as last asked.
        self._asked: dict[tuple[int, float], float] = {}

    def claim(
        self, user_id: int, experiment: str, *, worker: str | None = None, heartbeat: float | None = None
    ) -> JobRecord | None:
        """Hand out the next job, RUNNING for ``worker``; ``None`` if there is nothing to do now.

        ``heartbeat``: the interval the worker promises; its lease lasts a
        few of them. Without it, the lease is the experiment's
        ``maxRunTime``, if set.

        Raises:
            NotFound: no such experiment.
            schedy.server.store.WouldBlock: running inline, the claim turned out long (the store reruns it).

        """
        with self._store.claim_step() as step:
            taken = step.take_queued(user_id, experiment, worker, heartbeat)
            if taken is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            exp, job, max_run_time = taken
            if job is not None:
                return job
            if exp.status == DONE:
                return None
            scheduler = load_scheduler(exp.scheduler, exp.params)
            # PostgreSQL: a budget and the job it pays for commit together, in a step of their own.
            apart = not step.together and budget.max_jobs(exp.options) is not None
            if not apart:
                outcome = self._new_work(step, exp, scheduler, worker, heartbeat, max_run_time)
                if not isinstance(outcome, _FromHistory):
                    return outcome
            # Long: a decision from the history, or a budget apart. Nothing was written in this step.
            self._store.leave_loop()
        if apart:
            return self._continue(user_id, exp, scheduler, worker, heartbeat, max_run_time)
        return self._decide(user_id, exp, scheduler, worker, heartbeat, max_run_time)

    async def claim_async(
        self, user_id: int, experiment: str, *, worker: str | None = None, heartbeat: float | None = None
    ) -> JobRecord | None:
        """:meth:`claim` on the event loop (PostgreSQL: :attr:`schedy.server.store.Store.aio`).

        The queue head and a new job of a scheduler that reads no history
        (paid from the budget, ``maxJobs``, if any) are awaited on the loop; a
        spent budget or a decision from the history continues in the thread
        pool, from where this step left off.

        Raises:
            NotFound: no such experiment.

        """
        aio = self._store.aio
        assert aio is not None  # noqa: S101 - PostgreSQL only
        key = (user_id, experiment)
        async with aio.connection() as conn:
            step = AsyncClaimStep(conn)
            hint = self._hints.get(key) if heartbeat is not None else None
            guess = None if hint is None else _decide_alone(hint.scheduler)
            spent = False  # whether the statement found the budget spent
            if hint is not None and guess is not None and heartbeat is not None:
                # One round trip: the queue head, else a new job decided from the experiment as it was
                # (inserted only if its definition is still that one, and paid from its budget if any).
                limit = budget.max_jobs(hint.exp.options)
                taken = await step.claim_or_create(
                    user_id, experiment, worker, heartbeat, hint.exp, _new_row(guess), limit
                )
                spent = limit is not None and taken is not None and _same_definition(taken.experiment, hint.exp)
            else:
                taken = await step.take_queued(user_id, experiment, worker, heartbeat)
            if taken is None:
                self._hints.pop(key, None)
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            exp, job, max_run_time = taken
            if job is not None:
                return job
            if exp.status == DONE:
                return None
            scheduler = load_scheduler(exp.scheduler, exp.params)
            if not spent and not _reads_history(scheduler, exp.options):
                new = _decide_alone(scheduler)
                if new is None:
                    self._hints.pop(key, None)
                    return None
                # With a budget, the unit taken and the job it pays for are one statement (they commit together).
                limit = budget.max_jobs(exp.options)
                job = await step.insert_new(exp.id, _new_row(new), worker, heartbeat, max_run_time, limit)
                if job is not None:
                    self._remember(key, exp, scheduler)
                    return job
                # The budget is spent: whether to end the search, or retry a crashed job, is decided apart.
            self._hints.pop(key, None)
        # Its turn first, on the loop: claims waiting behind a long decision hold no thread.
        async with self._loop_turn(exp):
            return await to_thread.run_sync(
                self._continue, user_id, exp, scheduler, worker, heartbeat, max_run_time, limiter=self._threads
            )

    def _loop_turn(self, exp: ExperimentRecord) -> asyncio.Lock:
        """The lock the claims of ``exp`` continuing in a thread take turns on, on the event loop."""
        key = (exp.id, exp.created_at)
        lock = self._loop_turns.get(key)
        if lock is None:
            if len(self._loop_turns) >= HINTS:
                self._loop_turns.clear()  # as _turn's: at worst two decisions race, and one loses the compare-and-set
            lock = self._loop_turns[key] = asyncio.Lock()
        return lock

    def settle(self) -> int:
        """End the searches that are over though no claim has asked since; how many became DONE.

        A claim that finds nothing left marks a grid, a PBT or a ``maxJobs`` search DONE. When the last job
        ends and no claim follows (a worker per job, the last worker gone), the experiment would read RUNNING
        until one did; the service's sweep calls this every second. Each idle experiment is asked once per
        change of its jobs (:func:`schedy.server.store.idle.idle_unfinished`), and a decision that would
        hand out a job (a retry, a new member) records nothing: that is for a worker's claim.
        """
        ending = sorted(name for name, cls in SCHEDULERS.items() if cls.can_end)
        with self._store.read() as conn:
            found = idle.idle_unfinished(conn, ending)
        asked, ended = {}, 0
        for exp, changed in found:
            key = (exp.id, exp.created_at)
            asked[key] = changed
            if self._asked.get(key) == changed:
                continue
            try:
                ended += self._settle(exp)
            except NotFound:  # deleted since it was listed
                continue
        self._asked = asked  # forgets experiments no longer idle
        return ended

    def _settle(self, exp: ExperimentRecord) -> bool:
        scheduler = load_scheduler(exp.scheduler, exp.params)
        limit = budget.max_jobs(exp.options)
        retries = scheduler.retries_crashed_jobs and store_leases.max_retries(exp.options) > 0
        if limit is not None and not retries:
            with self._store.write() as conn:
                if budget.spent(conn, exp.id, limit):
                    return budget.finish_if_idle(conn, exp.id)
        if not scheduler.can_end:
            return False
        with self._turn(exp):
            made = self._decision(exp, scheduler)
            if made is None:
                return False
            history, decision, rng_state = made
            new_job = decision.job is not None and decision.job.retry_of is None
            if new_job and limit is not None:
                with self._store.write() as conn:  # a new job the spent budget refuses: the search is over
                    return budget.spent(conn, exp.id, limit) and budget.finish_if_idle(conn, exp.id)
            if not decision.experiment_done or decision.job is not None:
                return False
            try:
                with self._store.write() as conn:
                    self._record(conn, exp, history, decision, rng_state, None, None, None)
            except _Lost:  # another process or a claim decided first
                return False
            return True

    def _remember(self, key: tuple[int, str], exp: ExperimentRecord, scheduler: Scheduler) -> None:
        """Keep what the next claim of this experiment needs to decide before its first round trip."""
        if len(self._hints) >= HINTS:
            self._hints.clear()
        self._hints[key] = _Hint(exp, scheduler)

    def _continue(
        self,
        user_id: int,
        exp: ExperimentRecord,
        scheduler: Scheduler,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRecord | None:
        """A claim whose queue was empty, from its new work on (in a thread)."""
        if _reads_history(scheduler, exp.options) and budget.max_jobs(exp.options) is None:
            return self._decide(user_id, exp, scheduler, worker, heartbeat, max_run_time)  # no statement before it
        # A budget taken and the job it pays for commit together (see store.claims).
        with self._store.claim_step(atomic=budget.max_jobs(exp.options) is not None) as step:
            outcome = self._new_work(step, exp, scheduler, worker, heartbeat, max_run_time)
        if not isinstance(outcome, _FromHistory):
            return outcome
        return self._decide(user_id, exp, scheduler, worker, heartbeat, max_run_time)

    @staticmethod
    def _new_work(
        step: ClaimStep,
        exp: ExperimentRecord,
        scheduler: Scheduler,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRecord | _FromHistory | None:
        """New work for a claim that found no queued job, within the budget; ``_FROM_HISTORY`` if it needs the history.

        Writes nothing when it returns ``_FROM_HISTORY``.
        """
        limit = budget.max_jobs(exp.options)
        if limit is not None and budget.spent(step.conn, exp.id, limit):
            if scheduler.retries_crashed_jobs and store_leases.max_retries(exp.options) > 0:
                # A retry takes nothing from the budget: the search decides, and a new job it decides is
                # refused when the decision is recorded (which then ends the experiment if nothing runs).
                return _FROM_HISTORY
            budget.finish_if_idle(step.conn, exp.id)
            return None
        if _reads_history(scheduler, exp.options):
            return _FROM_HISTORY
        new = _decide_alone(scheduler)
        if new is None:
            return None
        if limit is not None and not budget.spend(step.conn, exp.id, limit):
            budget.finish_if_idle(step.conn, exp.id)
            return None
        return step.insert_new(exp.id, _new_row(new), worker, heartbeat, max_run_time)

    def _decide(
        self,
        user_id: int,
        exp: ExperimentRecord,
        scheduler: Scheduler,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRecord | None:
        with self._turn(exp):
            for _ in range(OPTIMISTIC_TRIES):
                made = self._decision(exp, scheduler)
                if made is None:
                    return None  # nothing to record: no write at all (the next decision draws the same numbers)
                history, decision, rng_state = made
                try:
                    return self._commit(exp, history, decision, rng_state, worker, heartbeat, max_run_time)
                except (_Lost, IntegrityError):
                    continue
            # Contended: decide under the experiment's lock, where no other decision can come first.
            with self._store.write() as conn:
                locked = store_experiments.get_record(conn, user_id, exp.name, lock=True)
                if locked is None or locked.id != exp.id:
                    raise NotFound(f"Experiment '{exp.name}' does not exist.")
                made = self._decision(exp, scheduler, conn)
                if made is None:
                    return None
                history, decision, rng_state = made
                return self._record(conn, exp, history, decision, rng_state, worker, heartbeat, max_run_time)

    def _decision(
        self, exp: ExperimentRecord, scheduler: Scheduler, conn: Connection | None = None
    ) -> tuple[History, Decision, str] | None:
        """The history (read with ``conn``, inside its transaction, if given) and the decision made from it.

        ``None`` when there is nothing to record: the experiment is DONE, or the scheduler hands out nothing.

        Raises:
            NotFound: the experiment was deleted.

        """
        # A scheduler that reads no job (a seeded random search) needs only the decision's number.
        read = self.histories.read if scheduler.reads_history else self.histories.state
        history = read(exp.id, exp.created_at, conn)
        if history is None:
            raise NotFound(f"Experiment '{exp.name}' does not exist.")
        if history.state.status == DONE:
            return None
        rng, key, _ = _decision_rng(history.state.rng_state, exp.options, history.state.decision_seq)
        stored_next = _sequence_next(history.state.rng_state)
        snapshot = Snapshot(
            jobs=history.jobs,
            now=history.state.now,
            options=_options(exp.options),
            key=key,
            decisions=history.state.decision_seq,
            # Recorded before "next" was: the decisions, which the index counted then.
            sequence_next=history.state.decision_seq if stored_next is None else stored_next,
        )
        decision = scheduler.decide(snapshot, rng)
        if _nothing(decision):
            return None
        return history, decision, _state_to_store(key, stored_next, decision)

    def _turn(self, exp: ExperimentRecord) -> threading.Lock:
        """The lock the decisions of ``exp`` take turns on in this process."""
        key = (exp.id, exp.created_at)
        with self._turns_lock:
            lock = self._turns.get(key)
            if lock is None:
                if len(self._turns) >= HINTS:
                    # Forgotten all at once: a decision holding an old lock then races a new one at worst,
                    # and the compare-and-set keeps that correct.
                    self._turns.clear()
                lock = self._turns[key] = threading.Lock()
            return lock

    def _commit(
        self,
        exp: ExperimentRecord,
        history: History,
        decision: Decision,
        rng_state: str,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRecord | None:
        retry = decision.job is not None and decision.job.retry_of is not None
        if not self._store.is_sqlite and budget.max_jobs(exp.options) is None and not retry:
            # PostgreSQL: the compare-and-set, the events and the new job in one statement, one round trip.
            with self._store.autocommit() as conn:
                committed = decisions.commit_and_insert(
                    conn,
                    exp.id,
                    history.state.decision_seq,
                    rng_state,
                    [dumps(dict(e)) for e in decision.events],
                    None if decision.job is None else _new_row(decision.job),
                    worker,
                    heartbeat,
                    max_run_time,
                    done=decision.experiment_done,
                )
            if not committed.won:
                raise _Lost
            return committed.job
        with self._store.write() as conn:
            return self._record(conn, exp, history, decision, rng_state, worker, heartbeat, max_run_time)

    @staticmethod
    def _record(
        conn: Connection,
        exp: ExperimentRecord,
        history: History,
        decision: Decision,
        rng_state: str,
        worker: str | None,
        heartbeat: float | None,
        max_run_time: float | None,
    ) -> JobRecord | None:
        if not store_history.commit_decision(
            conn, exp.id, history.state.decision_seq, rng_state, done=decision.experiment_done
        ):
            raise _Lost
        store_experiments.add_events(conn, exp.id, [dumps(dict(e)) for e in decision.events])
        if decision.job is None:
            return None
        limit = budget.max_jobs(exp.options)
        # A retry is the same job tried again: like the lease sweep's, it takes nothing from the budget.
        if limit is not None and decision.job.retry_of is None and not budget.spend(conn, exp.id, limit):
            budget.finish_if_idle(conn, exp.id)
            return None
        job = insert_claimed(conn, exp.id, _new_row(decision.job), worker, heartbeat, max_run_time, retry_ids=False)
        if decision.job.retry_of is not None:
            _carry_over(conn, exp.id, decision.job, job)
        return job


def _carry_over(conn: Connection, experiment_id: int, new: NewJob, retry: JobRecord) -> None:
    """A retry decided by the scheduler lists the retried job's attempts and starts with its artifacts.

    As the lease sweep's retries do (:mod:`schedy.server.service.leases`), in the decision's transaction;
    the artifacts unless the scheduler says not to (``NewJob.carry_artifacts``).
    """
    retried = store_jobs.get(conn, experiment_id, str(new.retry_of))
    if retried is not None:  # else deleted since the history was read: a fresh start
        store_attempts.carry_over(conn, retried, retry.pk, artifacts=new.carry_artifacts)


class _Hint(NamedTuple):
    """An experiment as a claim last saw it, and its scheduler (one that reads no history)."""

    exp: ExperimentRecord
    scheduler: Scheduler


class _FromHistory:
    """The claim needs a decision from the history (see :meth:`Claims._decide`)."""


_FROM_HISTORY = _FromHistory()


def _same_definition(exp: ExperimentRecord, other: ExperimentRecord) -> bool:
    """Whether two reads of an experiment show the same search (scheduler, parameters, options)."""
    return (exp.id, exp.scheduler, exp.params, exp.options) == (other.id, other.scheduler, other.params, other.options)


def _reads_history(scheduler: Scheduler, options: str) -> bool:
    """Whether a claim decides from the history: the scheduler reads it, or the experiment has a ``seed``.

    A seeded search replays its draws with one worker: each decision's random stream comes from the seed
    and the decision's number (:func:`_decision_rng`), which only the history's path keeps. An unseeded
    random search decides alone, with no statement before its insert.
    """
    return scheduler.reads_history or ('"seed"' in options and json.loads(options).get("seed") is not None)


def _decide_alone(scheduler: Scheduler) -> NewJob | None:
    """The decision of a scheduler that reads no history: its new job, if any."""
    decision = scheduler.decide(_EMPTY, _fresh_rng())
    if decision.events or decision.experiment_done:
        raise TypeError(f"{scheduler.name} reads no history, so it may only decide on a job.")
    return decision.job


def _nothing(decision: Decision) -> bool:
    return decision.job is None and not decision.events and not decision.experiment_done
