"""Jobs: one set of hyperparameters of an experiment, and its results."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import traceback as _traceback
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from schedy import _artifacts, _encoding, _routes
from schedy._artifacts import Artifact
from schedy._heartbeat import Lease
from schedy._hints import check_reports, check_results
from schedy._outage import is_outage, patiently
from schedy._pagination import iter_items
from schedy._reports import REPORTS_PER_REQUEST, ReportBuffer, checked_report
from schedy.errors import (
    AuthenticationError,
    ClientRequestError,
    HTTPError,
    JobPruned,
    ResourceNotFoundError,
    SchedyError,
    UnhandledResponseError,
    UnsafeUpdateError,
)

if TYPE_CHECKING:
    from schedy._db import SchedyDB
    from schedy._experiments import Experiment
    from schedy._transport import Response

__all__ = ["Job"]

logger = logging.getLogger("schedy")

#: What a crashed job sends about its exception (the service accepts more; see
#: schedy.server.service.attempts): the message's start and the traceback's end.
_ERROR_MESSAGE_CHARS = 4_000
_ERROR_TRACEBACK_CHARS = 8_000


def _error_of(
    exc_type: type[BaseException], exc_value: BaseException | None, tb: TracebackType | None
) -> dict[str, str]:
    """The exception as the service keeps it: ``{"type", "message", "traceback"}``, cut to size."""
    module = exc_type.__module__
    name = exc_type.__qualname__ if module in ("builtins", "__main__") else f"{module}.{exc_type.__qualname__}"
    message = "" if exc_value is None else str(exc_value)
    if len(message) > _ERROR_MESSAGE_CHARS:
        message = message[: _ERROR_MESSAGE_CHARS - 1] + "…"
    text = "".join(_traceback.format_exception(exc_type, exc_value, tb))
    if len(text) > _ERROR_TRACEBACK_CHARS:
        text = "…" + text[-(_ERROR_TRACEBACK_CHARS - 1) :]
    return {"type": name[:200], "message": message, "traceback": text}


#: [ext] keys the service manages → attribute names; times become datetimes.
_MANAGED = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "startedAt": "started_at",
    "finishedAt": "finished_at",
    "leaseExpiresAt": "lease_expires_at",
    "worker": "worker",
    "member": "member",
    "generation": "generation",
    "parent": "parent",
    "attempt": "attempt",
    "endReason": "end_reason",
    "stopReason": "stop_reason",
}
_TIMES = frozenset(("createdAt", "updatedAt", "startedAt", "finishedAt", "leaseExpiresAt"))


def _wire_error(value: Any) -> dict[str, str] | None:
    """A job's [ext] ``error`` (``{"type", "message"}``) as :attr:`Job.error` holds it; ``None`` for another shape."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return None
    message = value.get("message")
    return {"type": value["type"], "message": message if isinstance(message, str) else ""}


def _time(value: Any) -> datetime | None:
    """Read an ISO 8601 string or seconds since the epoch as an aware UTC datetime."""
    try:
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return None


class Job:
    """A job: hyperparameters to try, a status, and the results obtained.

    You should not need to create jobs by hand: use
    :meth:`schedy.Experiment.add_job`, :meth:`~schedy.Experiment.get_job`,
    :meth:`~schedy.Experiment.all_jobs`, :meth:`~schedy.Experiment.next_job`
    or :meth:`~schedy.Experiment.jobs`.

    A job is a context manager: ``with job:`` marks it RUNNING, then DONE
    when the block ends normally or CRASHED when it raises, and pushes the
    results with :meth:`put`::

        with exp.next_job() as job:
            job.results["loss"] = train(**job.hyperparameters)

    One block per job: only the process that entered it ends the job, and a
    second ``with job:`` on a job already inside one (nested, or from another
    thread) raises :class:`schedy.errors.UnsafeUpdateError`. A job pickles
    (e.g. to a ``multiprocessing`` pool) without its heartbeats, which stay
    with the original; see :meth:`__setstate__` for what the copy can do.

    Args:
        job_id: the job's id, unique within its experiment.
        experiment: the experiment the job belongs to.
        hyperparameters: hyperparameter name → value.
        status: one of the status constants below.
        results: result name → value (NaN and ±Infinity are kept).
        etag: the entity tag the service sent with the job; ``None`` for a
            job made by hand, or listed by a service that sends none.

    Besides these, the attributes below are what the service adds ([ext]
    keys of the job JSON); each is ``None`` when the service did not send
    it. Times are aware UTC :class:`~datetime.datetime` objects.

    Attributes:
        created_at: when the job was created.
        updated_at: when it last changed.
        started_at: when it was last handed out or set RUNNING.
        finished_at: when it ended (DONE, CRASHED or PRUNED).
        lease_expires_at: when the service ends the job (CRASHED) if no
            heartbeat arrives by then.
        worker: the name of the worker that claimed it.
        member: its member of a PBT population.
        generation: its PBT generation (1 for the initial population).
        parent: the id of the job whose results it continues (PBT).
        attempt: its attempt number (retries of a failed PBT step count up).
        end_reason: why it ended, when the service ended it (e.g. a lapsed lease).
        stop_reason: why the experiment's early-stopping policy told the job
            to stop, once it did (e.g. ASHA's rung and quota); ``None`` otherwise.
        error: what the job's current attempt raised, when its worker sent it
            (``with job:`` does, for a CRASHED job): ``{"type": "ZeroDivisionError",
            "message": "division by zero"}``; ``None`` otherwise. The traceback is
            on the job's page of the dashboard.

    """

    #: Waiting to be handed out by :meth:`schedy.Experiment.next_job`.
    QUEUED: ClassVar[str] = "QUEUED"
    #: Being worked on by a worker.
    RUNNING: ClassVar[str] = "RUNNING"
    #: Its worker failed (an exception in ``with job:``) or vanished.
    CRASHED: ClassVar[str] = "CRASHED"
    #: Abandoned because it was not worth finishing.
    PRUNED: ClassVar[str] = "PRUNED"
    #: Finished; its results are final.
    DONE: ClassVar[str] = "DONE"

    __slots__ = (
        "__weakref__",  # the heartbeat thread holds a job weakly: a job dropped unfinished stops beating
        "_block_pid",
        "_buffers",
        "_claimed_results",
        "_heartbeat",
        "_lease",
        "_lease_lost",
        "_lost_reason",
        "_reported",
        "_reports_wait",
        "attempt",
        "created_at",
        "end_reason",
        "error",
        "etag",
        "experiment",
        "finished_at",
        "generation",
        "hyperparameters",
        "job_id",
        "lease_expires_at",
        "member",
        "parent",
        "results",
        "started_at",
        "status",
        "stop_reason",
        "updated_at",
        "worker",
    )

    def __init__(
        self,
        job_id: str,
        experiment: Experiment,
        hyperparameters: dict[str, Any],
        status: str = "QUEUED",
        results: dict[str, Any] | None = None,
        etag: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.experiment = experiment
        self._buffers: list[ReportBuffer] = []  # sent at the job's end (with job:), whatever happened
        self.hyperparameters = hyperparameters
        self.status = status
        self.results: dict[str, Any] = {} if results is None else results
        self.etag = etag
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.lease_expires_at: datetime | None = None
        self.worker: str | None = None
        self.member: str | None = None
        self.generation: int | None = None
        self.parent: str | None = None
        self.attempt: int | None = None
        self.end_reason: str | None = None
        self.stop_reason: str | None = None
        self.error: dict[str, str] | None = None
        self._heartbeat: float | None = None
        self._lease: Lease | None = None
        self._lease_lost = False
        self._lost_reason: str | None = None
        self._reported: dict[str, float | None] = {}  # each metric's latest value this worker reported
        # A report waits for a service that is away; once the job crashed, it is tried briefly instead.
        self._reports_wait = True
        self._claimed_results: dict[str, Any] | None = None  # as handed out (a PBT job's: its parent's)
        self._block_pid: int | None = None  # the process inside this job's ``with job:`` block, if any

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its lease and report buffers: those stay with the original (see ``__setstate__``)."""
        return {name: getattr(self, name) for name in Job.__slots__ if name not in _NOT_PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A copy of a pickled job (``multiprocessing``, ``spawn`` included; ``copy.deepcopy``).

        The heartbeats stay with the original, which goes on beating for the
        job while it holds its lease; the copy holds none. The copy can
        :meth:`report` (its reports count for the job, and renew its lease),
        read (:meth:`reports`, :meth:`artifacts`, :meth:`load_artifact`) and
        :meth:`save_artifact`. It cannot enter ``with job:`` while the
        original is inside its own block (that block ends the job); a copy of
        a job not inside a block can, and then beats for the job itself.
        To have another process run jobs, hand it the experiment and let it
        claim them (:meth:`schedy.Experiment.jobs`).
        """
        self._lease = None
        self._buffers = []
        for name, value in state.items():
            setattr(self, name, value)

    @property
    def id(self) -> str:
        """The job's id (the same as :attr:`job_id`)."""
        return self.job_id

    @property
    def lost(self) -> str | None:
        """Why the service no longer counts this job as this worker's, or ``None`` while it does.

        Set inside ``with job:`` once a heartbeat or a report was refused
        because the job ended (its lease lapsed, or someone else ended it),
        was queued again or was deleted, to the service's sentence (e.g. "Job
        'a1' has ended CRASHED, so it is no longer RUNNING; …"): its results
        will be refused, so the work can stop.

        Also set when the update at the end of ``with job:`` is refused for
        the same reasons (or because the job or its experiment was deleted):
        the block then ends without raising (the job's results are not
        saved, a warning says why), so a worker loop goes on with its next
        job; check ``job.lost`` after the block to tell.
        """
        return self._lost_reason if self._lease_lost else None

    @classmethod
    def _from_wire(cls, experiment: Experiment, data: Any, etag: str | None) -> Job:
        """Build a job from its JSON (a single answer, or a list item)."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("status"), str):
            raise UnhandledResponseError(f"Expected a job, got {str(data)[:200]}", None)
        hps = data.get("hyperparameters")
        results = data.get("results")
        job = cls(
            data["id"],
            experiment,
            hps if isinstance(hps, dict) else {},
            data["status"],
            results if isinstance(results, dict) else {},
            etag,
        )
        job._update_managed(data)
        return job

    def _update_managed(self, data: dict[str, Any]) -> None:
        for key, attr in _MANAGED.items():
            value = data.get(key)
            setattr(self, attr, _time(value) if key in _TIMES else value)
        self.error = _wire_error(data.get("error"))

    # -- talking to the service ---------------------------------------------

    def _db(self) -> SchedyDB:
        return self.experiment._require_db()

    def _path(self) -> str:
        return _routes.job(_routes.experiment(self.experiment.name), self.job_id)

    def _body(self) -> dict[str, Any]:
        return {"status": self.status, "hyperparameters": self.hyperparameters, "results": self.results}

    def put(self, safe: bool = True) -> None:
        """Create or update the job in the service with its local content.

        Called for you at the end of a ``with job:`` block.

        Args:
            safe: never overwrite a change made by someone else since this
                copy was read: the update is sent with ``If-Match`` of the
                job's ETag, or, for a job without one, as a creation
                (``If-None-Match: *``) that fails if the job exists.

        Raises:
            schedy.errors.UnsafeUpdateError: ``safe`` and the job changed
                (or, without an ETag, exists) in the service.

        Example::

            job = exp.get_job("ExhnhQ")
            job.results["accuracy"] = 0.97
            job.put()

        """
        self._put(safe, sent_before=False)

    def _put(self, safe: bool, *, sent_before: bool, attempts: int | None = None) -> None:
        """:meth:`put`; ``sent_before``: an earlier call sent the same update and may have been applied.

        ``attempts``: how many times to send it at most (default: the transport's retry policy).
        """
        db = self._db()
        path = self._path()
        if self.status != Job.RUNNING:
            # Ended (or set back) without with job: (the 0.1.0b6 way): no more beats, and none in flight
            # that would reach the service after this update and be refused.
            self._release_lease()
        headers: dict[str, str] = {}
        if safe:
            headers = {"If-Match": self.etag} if self.etag else {"If-None-Match": "*"}
        body = self._body()
        response = db._transport.request("PUT", path, body, headers=headers, expect=(200, 201, 412), attempts=attempts)
        if response.status == 412:
            if (response.replayed or sent_before) and self._adopt_if_applied(body):
                return  # our own earlier attempt went through before its answer was lost
            raise self._conflict(response.data.decode(errors="replace"))
        self.etag = response.etag()
        answer = response.json()
        if isinstance(answer, dict):
            self._update_managed(answer)
        if self._lease_lost and self.status == Job.DONE:
            # Its lease had lapsed, but the service kept the result (nobody had taken up its retry).
            logger.info(
                "Job %s of experiment %r: its results were kept all the same.", self.job_id, self.experiment.name
            )
            self._lease_lost, self._lost_reason = False, None

    def _conflict(self, body: str) -> UnsafeUpdateError:
        where = f"Job '{self.job_id}' of experiment '{self.experiment.name}'"
        if self.etag is None:
            message = (
                f"{where} already exists and this copy has no ETag: "
                "read it with get_job() to update it safely, or use put(safe=False)."
            )
        elif retry := re.search(r"job '([^']+)', its retry, was claimed", body):  # our service's words
            message = (
                f"{where} was ended by the service after its lease lapsed, and job '{retry.group(1)}', its retry, "
                "was claimed by another worker since; its results were not saved (the retry's will be)."
            )
        elif self._lease_lost:
            message = (
                f"{where} was ended by the service after its lease lapsed (no heartbeat); its results were not saved."
            )
        elif "was deleted since" in body:
            message = f"{where} was deleted (by someone else, or with its experiment) since it was read."
        else:
            now = re.search(r"\(it is now [^()]*\)", body)  # our service says what the job became
            message = (
                f"{where} was changed by someone else since it was read{' ' + now.group() if now else ''}; "
                f"read it again (exp.get_job({self.job_id!r}) in Python, `schedy show` on the command line)."
            )
        error = UnsafeUpdateError(body, 412)
        error.args = (message,)
        return error

    def _adopt_if_applied(self, sent: dict[str, Any]) -> bool:
        """After a retried update got 412: take the service's copy if it is exactly what we sent."""
        db = self._db()
        response = db._transport.request("GET", self._path(), expect=(200, 404))
        if response.status != 200:
            return False
        current = response.json()
        if not isinstance(current, dict):
            return False
        mine = _encoding.dumps(sent)
        theirs = _encoding.dumps(
            {
                "status": current.get("status"),
                "hyperparameters": current.get("hyperparameters") or {},
                "results": current.get("results") or {},
            }
        )
        if mine != theirs:
            return False
        self.etag = response.etag()
        self._update_managed(current)
        return True

    def try_run(self) -> None:
        """Set the job RUNNING, unless another worker changed it first.

        Raises:
            schedy.errors.UnsafeUpdateError: the job changed since it was
                read (typically: another worker started it). The local
                status is left as it was.

        """
        previous = self.status
        self.status = Job.RUNNING
        try:
            self.put(safe=True)
        except BaseException:
            self.status = previous
            raise

    def delete(self, ensure: bool = True) -> None:
        """Delete the job from the service.

        Args:
            ensure: raise if the job was already deleted (``If-Match: *``).

        Raises:
            schedy.errors.UnsafeUpdateError: ``ensure`` and the job was gone.

        """
        self._release_lease()
        headers = {"If-Match": "*"} if ensure else None
        response = self._db()._transport.request("DELETE", self._path(), headers=headers, expect=(200, 204, 412))
        if response.status == 412 and not response.replayed:
            error = UnsafeUpdateError(response.data.decode(errors="replace"), 412)
            error.args = (f"Job '{self.job_id}' of experiment '{self.experiment.name}' was already deleted.",)
            raise error

    # -- heartbeats -----------------------------------------------------------

    def _hold_lease(self) -> None:
        """Start beating for this claimed job (from its claim: the lease runs from then), unless already."""
        if self._heartbeat and self._lease is None:
            ref = weakref.ref(self)

            def beat() -> bool:
                job = ref()
                return False if job is None else job._beat()  # dropped unfinished: let its lease lapse

            self._lease = self._db()._heartbeats.start(beat, self._heartbeat)

    def _release_lease(self) -> None:
        """Stop beating for this job (waiting for a beat in flight)."""
        if self._lease is not None:
            self._db()._heartbeats.stop(self._lease)
            self._lease = None

    def _beat(self) -> bool:
        """Send one heartbeat; false when the lease is gone (stop beating)."""
        db = self._db()
        try:
            response = db._transport.request(
                "POST", self._path() + "heartbeat/", expect=(200, 204, 404, 409, 412), attempts=3
            )
        except AuthenticationError as exc:
            # The credentials were refused (the API token revoked, the user removed): nothing of this job can
            # be sent any more, and beating on would only log in again and again.
            if not self._lease_lost:
                logger.warning(
                    "Job %s of experiment %r can no longer be reported to the service: %s Heartbeats stopped.",
                    self.job_id,
                    self.experiment.name,
                    exc,
                )
            self._lost_reason = self._lost_reason or str(exc)
            self._lease_lost = True
            return False
        except HTTPError as exc:
            logger.warning("Heartbeat of job %s failed (%s); will try again.", self.job_id, exc)
            return True
        if response.status in (404, 409, 412):
            if not self._lease_lost:
                # The service says why (e.g. "has ended CRASHED": the lease lapsed; "has ended PRUNED").
                if response.status == 404:  # the job, or its experiment, is gone: nothing of it can be saved
                    reason = _problem_detail(response) or "the job, or its experiment, was deleted"
                    outcome = "its results can no longer be saved."
                else:  # 409, 412: ended (its lease lapsed, or someone ended it) or given to another worker
                    reason = _problem_detail(response) or "the service ended it or gave it to another worker"
                    outcome = "if it runs to its end, its results are kept unless its retry was claimed meanwhile."
                logger.warning(
                    "Job %s of experiment %r lost its lease (HTTP %d): %s Heartbeats stopped; %s",
                    self.job_id,
                    self.experiment.name,
                    response.status,
                    reason if reason.endswith(".") else reason + ".",
                    outcome,
                )
            self._lost_reason = self._lost_reason or _problem_detail(response) or f"HTTP {response.status}"
            self._lease_lost = True
            return False
        return True

    # -- intermediate reports (early stopping) ----------------------------------

    def report(self, step: int, **metrics: float | None) -> bool:
        """Send intermediate values of this RUNNING job; ``True`` when it should stop.

        ``step`` is a non-negative integer (any integer type, numpy's too; at most
        :data:`~schedy._reports.MAX_STEP`, 2**62 - 1), e.g. the epoch; ``metrics`` are
        numbers (NaN and ±Infinity allowed) or ``None``. The service keeps
        the series (see :meth:`reports`) and, when the experiment has an
        early-stopping policy (``early_stopping=`` of the search), answers
        whether the job is worth going on with. Once told to stop, a job is
        told so for every later report. A report renews the job's lease, as
        a heartbeat does.

        When it returns ``True``, raise :class:`schedy.errors.JobPruned`
        inside ``with job:`` to end the job PRUNED::

            with exp.next_job() as job:
                for epoch in range(50):
                    job.results["loss"] = loss = train_one_epoch()
                    if job.report(epoch, loss=loss):
                        raise schedy.errors.JobPruned()

        When it returns ``True`` because of the policy, :attr:`stop_reason`
        says why (e.g. ASHA's rung and how many jobs did better).

        Also ``True`` when the job is no longer RUNNING (its lease lapsed,
        it already ended, or it was deleted meanwhile): whatever is done
        with it next would be refused; a warning says why, and
        :attr:`lost` too.

        While the service is away (a restart, its database restarting: no
        answer, or 502, 503, 504), the report waits for it as the update at
        the end of ``with job:`` does (tried again every 15 s for up to 15
        minutes, said in the log), instead of raising and ending the job
        CRASHED: so the answer is always the service's own verdict, and a
        job whose lease outlives the outage goes on.

        Raises:
            ValueError: ``step`` is not a non-negative integer, or a metric is not a number.
            schedy.errors.HTTPError: the service refused the report (other
                than 404 or 412), or stayed away for longer than that.

        """
        step, metrics = checked_report(step, metrics)
        check_reports(self, (metrics,))
        return self._send_reports({"step": step, "metrics": metrics}, (metrics,))

    def report_many(self, reports: Iterable[tuple[int, Mapping[str, float | None]]]) -> bool:
        """Send several reports at once, e.g. ``[(step, {"loss": 0.3}), ...]``; ``True`` when the job should stop.

        One request per :data:`REPORTS_PER_REQUEST` reports instead of one
        each: for reports made many times a second (every batch rather than
        every epoch), where a round trip per report would slow training. The
        service judges them in order, as if sent one by one, and stores every
        report of a request, those after a stop decision included; once a
        request is told to stop, the following requests (of
        :data:`REPORTS_PER_REQUEST` each) are not sent. :meth:`buffered_reports`
        gathers them for you.

        Raises:
            ValueError: a step is not a non-negative integer, or a metric is not a number (nothing is sent).

        """
        return self._report_many(reports)

    def _report_many(self, reports: Iterable[tuple[int, Mapping[str, float | None]]], *, brief: bool = False) -> bool:
        """:meth:`report_many`; ``brief``: tried briefly, not waiting for a service that is away (a block's end)."""
        checked = [checked_report(step, dict(metrics)) for step, metrics in reports]
        items = [{"step": step, "metrics": metrics} for step, metrics in checked]
        check_reports(self, [metrics for _, metrics in checked])
        for start in range(0, len(items), REPORTS_PER_REQUEST):
            sent = checked[start : start + REPORTS_PER_REQUEST]
            if self._send_reports(
                {"reports": items[start : start + REPORTS_PER_REQUEST]}, [metrics for _, metrics in sent], brief=brief
            ):
                return True
        return False

    def buffered_reports(self, every: float = 1.0) -> ReportBuffer:
        """Reports gathered and sent together at most every ``every`` seconds; see :class:`schedy.ReportBuffer`.

        Example::

            with exp.next_job() as job, job.buffered_reports(every=2.0) as reports:
                for step, batch in enumerate(loader):
                    if reports.report(step, loss=train_step(batch)):
                        raise schedy.errors.JobPruned()

        """
        buffer = ReportBuffer(self, every)
        self._buffers.append(buffer)  # what it still holds is sent when the job ends, if not before
        return buffer

    def _send_reports(
        self, body: dict[str, Any], metrics: Iterable[Mapping[str, float | None]], *, brief: bool = False
    ) -> bool:
        """POST a report body; whether the job should stop (also when it is no longer RUNNING).

        ``metrics`` (those of the body's reports, in order) become the latest reported values only once the
        service took them: a report refused (by the encoder, or by the service) leaves them as they were.

        The service being away is waited for (see :meth:`report`), except by the reports a crashing job's
        buffers still hold at its end, or a buffer's block that raised (``brief``): those are tried briefly
        (:data:`_CRASH_ATTEMPTS`), and the exception goes on at once.
        """
        transport = self._db()._transport
        path = self._path() + "reports/"
        wait = self._reports_wait and not brief
        attempts = None if wait else _CRASH_ATTEMPTS

        def send() -> Response:
            return transport.request("POST", path, body, expect=(200, 404, 412), attempts=attempts)

        # Waiting keeps the answer the service's verdict: a report kept to be sent later would have to answer
        # "go on" unasked, and a job told to stop meanwhile would train on.
        response = patiently(send, f"job {self.job_id}'s report waits until it is back") if wait else send()
        if response.status in (404, 412):
            if not self._lease_lost:
                # The service says why (e.g. "has ended CRASHED": its lease lapsed; "has ended DONE": finished;
                # 404: the job, or its experiment, was deleted meanwhile).
                reason = _problem_detail(response) or "it is no longer RUNNING"
                logger.warning(
                    "Job %s of experiment %r: %s Stop working on it.",
                    self.job_id,
                    self.experiment.name,
                    reason if reason.endswith(".") else reason + ".",
                )
            self._lost_reason = self._lost_reason or _problem_detail(response) or "it is no longer RUNNING"
            self._lease_lost = True
            return True
        for each in metrics:  # stored by the service
            self._record_reported(each)
        answer = response.json()
        if not isinstance(answer, dict):
            raise UnhandledResponseError(f"A report answered {str(answer)[:200]}, not a verdict.", 200)
        if answer.get("leaseExpiresAt") is not None:
            self.lease_expires_at = _time(answer["leaseExpiresAt"])
        stop = bool(answer.get("stop"))
        if stop and isinstance(answer.get("reason"), str):
            self.stop_reason = answer["reason"]
        return stop

    def _record_reported(self, metrics: Mapping[str, float | None]) -> None:
        """Keep a report's metrics (checked, and sent or buffered) as their latest values (see ``__exit__``)."""
        self._reported.update(metrics)

    def reports(self) -> list[dict[str, Any]]:
        """The job's reports, in the order the service received them.

        Each is ``{"step": int, "time": datetime, "metrics": {name: value}, "attempt": int}``: ``attempt``
        is the job's run that sent it (1; 2 and up once the job was set back to QUEUED and ran again).
        """
        out = []
        for item in iter_items(self._db()._transport, self._path() + "reports/"):
            out.append(
                {
                    "step": item["step"],
                    "time": _time(item["time"]),
                    "metrics": item["metrics"],
                    "attempt": item.get("attempt", 1),
                }
            )
        return out

    # -- artifacts (files stored with the job) -----------------------------------

    def save_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> Artifact:
        """Store a file with this job, replacing an artifact of the same name; see docs/artifacts.md.

        Streamed (never read whole into memory) and checksummed; visible to
        :meth:`load_artifact` only once all of it arrived.

        Args:
            path: the file.
            name: its name in the job (default: the file's name); letters,
                digits, ``. _ = + -``, no ``/``, starting with a letter, a
                digit or ``_``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: a name the service would refuse.
            schedy.errors.ClientRequestError: 413 over the service's size
                limit or your quota; 404 the job was deleted.

        """
        return _artifacts.upload(self._db()._transport, self._path(), path, name)

    def load_artifact(self, name: str, to: str | os.PathLike[str] | None = None, *, from_parent: bool = False) -> Path:
        """Download an artifact of this job (or of its PBT parent) and return where it was written.

        Args:
            name: the artifact's name.
            to: a file or an existing directory (default: ``./NAME``);
                written through a temporary file, checked against the stored
                SHA-256, then renamed, so it never holds half a file.
            from_parent: load the artifact of the job this one continues
                (:attr:`parent`: the member a PBT job exploited or continued).

        Raises:
            ValueError: ``from_parent`` and the job has no parent.
            schedy.errors.ClientRequestError: 404 no such artifact.

        """
        source = self._path()
        if from_parent:
            if not self.parent:
                raise ValueError(f"Job '{self.job_id}' has no parent job to load {name!r} from.")
            source = _routes.job(_routes.experiment(self.experiment.name), self.parent)
        return _artifacts.download(self._db()._transport, source, name, to)

    def artifacts(self) -> list[Artifact]:
        """The job's artifacts (name, size, sha256, created_at), by name."""
        return _artifacts.listing(self._db()._transport, self._path())

    def delete_artifact(self, name: str) -> None:
        """Delete one of the job's artifacts (404 if it has none of that name)."""
        _artifacts.delete(self._db()._transport, self._path(), name)

    # -- context manager --------------------------------------------------------

    def __enter__(self) -> Job:
        """Mark the job RUNNING (unless it already is) and start its heartbeats.

        A job from :meth:`schedy.Experiment.next_job` is already RUNNING, so
        this never fails for it; for another job it calls :meth:`try_run`,
        which raises :class:`schedy.errors.UnsafeUpdateError` when another
        worker got it first. So does a job already inside a ``with job:``
        block (nested, entered by another thread, or by the process this one
        was forked from or got a pickled copy from): one block per job.

        Example::

            db = schedy.SchedyDB()
            exp = db.get_experiment("MNIST")
            with exp.next_job() as job:
                job.results["accuracy"] = train(**job.hyperparameters)

        """
        pid = os.getpid()
        with _ENTERING:  # one test and set for every thread
            inside = self._block_pid
            if inside is None:
                self._block_pid = pid
        if inside is not None:
            raise self._already_inside(inside)
        try:
            if self.status != Job.RUNNING:
                self.try_run()
            self._hold_lease()
        except BaseException:
            self._block_pid = None
            raise
        return self

    def _already_inside(self, pid: int) -> UnsafeUpdateError:
        """The error of a second ``with job:`` on a job already inside one (no request was sent: no status)."""
        if pid == os.getpid():
            message = (
                f"Job {self.job_id} is already inside a `with job:` block (nested, or entered by another thread): "
                "use one block per job."
            )
        else:
            message = (
                f"Job {self.job_id} is inside a `with job:` block of process {pid}, which ends it: "
                "this copy of it (forked or pickled) can report on it, not run it."
            )
        error = UnsafeUpdateError("", None)
        error.args = (message,)
        return error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """Stop the heartbeats, set the job DONE, CRASHED or PRUNED and push it with :meth:`put`.

        The job becomes PRUNED if the block raised
        :class:`schedy.errors.JobPruned` (which is then swallowed, so a
        worker loop goes on), CRASHED if it raised anything else, DONE
        otherwise — unless the block set another status itself (e.g.
        ``job.status = Job.PRUNED``), which is kept. A CRASHED job also
        sends the exception's type, message and the end of its traceback,
        which the dashboard shows with the attempt. Any other exception is
        never swallowed; if pushing the job fails while one propagates, the
        failure is logged and the block's exception wins.

        If the service refuses the update because the job is no longer this
        worker's (ended, re-queued or deleted by someone else, its lease
        lapsed, its experiment deleted: 412 or 404), nothing is raised:
        :attr:`lost` says why and a warning is logged, so ``for job in
        exp.jobs(): with job: ...`` goes on with the next job.

        Only the process that entered the block ends the job: in a process
        forked inside it (``os.fork``, ``multiprocessing`` with fork) that
        leaves the block (``sys.exit``, an exception), this does nothing and
        the job is left to the parent.
        """
        if self._block_pid is not None and self._block_pid != os.getpid():
            return False  # a forked child leaving its parent's block: the job is not its to end
        try:
            return self._end_block(exc_type, exc_value, traceback)
        finally:
            self._block_pid = None

    def _end_block(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """:meth:`__exit__` in the process that entered the block."""
        pruned = exc_type is not None and issubclass(exc_type, JobPruned)
        crashed = exc_type is not None and not pruned
        if crashed:
            # A crash (Ctrl-C included): its exception goes on at once, as below; the buffered reports are
            # tried briefly, not for the transport's minute of retries while the service is away.
            self._reports_wait = False
        self._flush_buffers()
        self._release_lease()
        if pruned:
            self.status = Job.PRUNED
        elif exc_type is not None:
            self.status = Job.CRASHED
        elif self.status == Job.RUNNING:
            self.status = Job.DONE
        if self.status in (Job.DONE, Job.PRUNED):
            self._keep_last_reported()
        if self.status == Job.DONE:
            check_results(self)
        try:
            try:
                if not crashed:  # results worth waiting for the service to come back
                    self._put_patiently()
                else:
                    # A crash: its exception goes on at once, whatever becomes of the update, which is tried
                    # briefly (a service away would otherwise hold a Ctrl-C for a minute of retries).
                    self._put(True, sent_before=False, attempts=_CRASH_ATTEMPTS)
                if self.status == Job.CRASHED and exc_type is not None:
                    self._send_error(_error_of(exc_type, exc_value, traceback), attempts=_CRASH_ATTEMPTS)
            except (TypeError, ValueError) as unsendable:
                # A result the client cannot encode (a tensor, a circular list): end the job CRASHED now,
                # with the results that can be sent, rather than leave it RUNNING until its lease lapses.
                brief = _CRASH_ATTEMPTS if crashed else None
                self._crash_with_sendable_results(brief)
                message = f"{unsendable} Job {self.job_id} was marked CRASHED without the results that cannot be sent."
                kind = TypeError if isinstance(unsendable, TypeError) else ValueError  # as the encoder said
                self._end_unsent(kind(message), unsendable, exc_type, exc_value, traceback, brief)
            except ClientRequestError as refused:
                if refused.code not in _REFUSED:
                    raise
                # The service refused the job as it is (e.g. results over its body limit): end it CRASHED
                # now with what it accepts, rather than leave it RUNNING until its lease lapses.
                dropped = self._crash_with_accepted_results()
                reason = _problem_detail_of(refused)
                message = f"The service refused job {self.job_id}'s results: {reason} It was marked CRASHED" + (
                    f" without {', '.join(map(repr, dropped))}." if dropped else "."
                )
                self._end_unsent(ValueError(message), refused, exc_type, exc_value, traceback)
        except SchedyError as failure:
            if isinstance(failure, (UnsafeUpdateError, ResourceNotFoundError)):
                self._taken_away(failure)
            elif exc_type is None:
                raise
            elif crashed and is_outage(failure):
                logger.warning(
                    "Could not mark job %s of %r %s: the Schedy service is away (%s). %s",
                    self.job_id,
                    self.experiment.name,
                    self.status,
                    str(failure).rstrip("."),
                    "It stays RUNNING until its lease lapses; the service then ends it (CRASHED, and queued again "
                    "if the experiment has maxRetries)."
                    if self._heartbeat
                    else "It stays RUNNING (it holds no lease: heartbeats are off) until it is ended by hand.",
                )
            else:
                logger.exception("Could not mark job %s of %r %s.", self.job_id, self.experiment.name, self.status)
        return pruned

    def _put_patiently(self) -> None:
        """The update that ends the job, sent again while the service is away (it carries the results)."""
        tries = 0

        def send() -> None:
            nonlocal tries
            tries += 1
            self._put(True, sent_before=tries > 1)

        patiently(send, f"job {self.job_id}'s results are kept until it is back")

    def _inherited(self, name: str) -> bool:
        """Whether the value of result ``name`` is still the very object handed out (a PBT job's: its parent's).

        Told by identity, so a worker that sets an equal score is not mistaken for one that set none;
        integers are never taken as inherited (Python shares the small ones: 3 set anew *is* the 3 handed).
        """
        handed = self._claimed_results
        if handed is None or name not in handed:
            return False
        value = handed[name]
        return not isinstance(value, int) and self.results.get(name) is value

    def _keep_last_reported(self) -> None:
        """The declared objective's latest reported value as its result, if the block did not set one.

        A worker that reports ``loss`` every epoch and never writes ``job.results["loss"]`` (the habit
        Ray Tune teaches: the last report is the result) would leave its search nothing to rank it by.
        """
        declared = self.experiment.declared_objective()
        if declared is None:
            return
        name = declared[0]
        value = self._reported.get(name)
        if value is None:
            return
        # A PBT job starts with its parent's results: a value still the very one handed out is not this job's.
        if name not in self.results or self._inherited(name):
            self.results[name] = value

    def _flush_buffers(self) -> None:
        """Send what the job's report buffers still hold (a failure is logged: the job's own update matters more)."""
        buffers, self._buffers = self._buffers, []
        for buffer in buffers:
            buffer.send_rest()

    def _taken_away(self, refusal: SchedyError) -> None:
        """The final update of a job this worker held was refused (412, 404): the job is no longer its own.

        Someone ended, re-queued or deleted it, its lease lapsed (e.g. the service was unreachable for
        longer than a lease), or its experiment was deleted. Nothing is written over what the service
        holds; :attr:`lost` says why, a warning too, and the worker loop goes on with its next job, as
        the 2018 contract promises for a job from ``next_job()`` (no :class:`UnsafeUpdateError`).
        """
        reason = str(refusal)
        # The results go into the log, so that they can still be copied from there (a laptop that slept
        # through its lease, a partition longer than one): the service keeps what it decided.
        unsaved = f": {_encoding.shown(dict(self.results), _RESULTS_LOGGED)}" if self.results else "."
        if not self._lease_lost:
            logger.warning(
                "%s Job %s was not marked %s; its results were not saved%s",
                reason if reason.endswith(".") else reason + ".",
                self.job_id,
                self.status,
                unsaved,
            )
        elif self.results:  # its loss was said when it happened; what it costs is said now
            logger.warning(
                "Job %s of experiment %r was not marked %s (%s); its results were not saved%s",
                self.job_id,
                self.experiment.name,
                self.status,
                (self._lost_reason or "it is no longer this worker's").rstrip("."),
                unsaved,
            )
        self._lost_reason = self._lost_reason or reason
        self._lease_lost = True

    def _end_unsent(
        self,
        error: Exception,
        cause: BaseException,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        attempts: int | None = None,
    ) -> None:
        """After results were left out of a CRASHED job: record why, and raise ``error`` unless the block raised.

        The block's own exception, if any, is what the job records and what propagates; ``error`` is logged.
        ``attempts``: as for :meth:`_put` (a crash's updates are tried briefly).
        """
        if exc_type is None:
            self._send_error(_error_of(type(error), error, None))
            raise error from cause
        self._send_error(_error_of(exc_type, exc_value, traceback), attempts)
        logger.error("Job %s: %s", self.job_id, error)

    def _send_error(self, error: dict[str, str], attempts: int | None = None) -> None:
        """Tell the service why the (CRASHED) job crashed; a service without the endpoint is left alone."""
        path = self._path() + "error/"
        response = self._db()._transport.request("PUT", path, error, expect=(204, 404, 405, 409), attempts=attempts)
        etag = response.headers.get("ETag")
        if response.status == 204:
            self.error = {"type": error["type"], "message": error["message"]}  # as the service now shows it
            if etag:
                self.etag = etag

    def _crash_with_sendable_results(self, attempts: int | None = None) -> None:
        """Mark the job CRASHED keeping only the results (and hyperparameters) that can be encoded."""
        self._crash_with_sendable_results_kept()
        self._put(True, sent_before=False, attempts=attempts)

    def _crash_with_accepted_results(self) -> list[str]:
        """Mark the job CRASHED with the results the service accepts; the names of those left out.

        The largest results are left out first, one at a time (a body over the service's limit is the
        usual refusal), three times at most; then all of them.
        """
        self._crash_with_sendable_results_kept()
        kept = dict(self.results)
        dropped: list[str] = []
        for _ in range(4):
            self.results = kept
            try:
                self.put(safe=True)
                return dropped
            except ClientRequestError as refused:
                if refused.code not in _REFUSED or not kept:
                    raise
            largest = max(kept, key=lambda key: len(_encoding.dumps({key: kept[key]})))
            dropped.append(largest)
            kept = {key: value for key, value in kept.items() if key != largest}
        dropped.extend(kept)
        self.results = {}
        self.put(safe=True)
        return dropped

    def _crash_with_sendable_results_kept(self) -> None:
        """Keep only the results and hyperparameters the client can encode, and set CRASHED (not sent)."""
        self.results = _sendable(self.results)
        self.hyperparameters = _sendable(self.hyperparameters)
        self.status = Job.CRASHED

    def __repr__(self) -> str:
        return (
            f"Job(job_id={self.job_id!r}, experiment={self.experiment.name!r}, status={self.status!r}, "
            f"hyperparameters={self.hyperparameters!r}, results={self.results!r})"
        )


#: What a pickled job leaves behind (its heartbeat lease, its report buffers): the original's alone.
_NOT_PICKLED = frozenset(("__weakref__", "_lease", "_buffers"))

#: Held to test and mark a job entered (``with job:``) in one step, whichever thread enters it.
_ENTERING = threading.Lock()


def _new_entering_lock() -> None:
    global _ENTERING
    _ENTERING = threading.Lock()  # a fork while another thread held it would leave the child's copy held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_entering_lock)

#: How many times the updates of a job that crashed (its end, its error, its buffered reports) are sent at most:
#: twice, a quarter of a second apart, so that an exception (Ctrl-C) raised while the service is away reaches
#: the caller at once rather than after the transport's minute of retries.
_CRASH_ATTEMPTS = 2

#: Statuses of a refused job update whose content is at fault: 400 (bad JSON), 413 (too large), 422 (invalid).
_REFUSED = (400, 413, 422)


def _sendable(mapping: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``mapping`` the client can encode."""
    kept = {}
    for key, value in mapping.items():
        try:
            _encoding.dumps({key: value})
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def _problem_detail_of(error: ClientRequestError) -> str:
    """The service's one sentence in a refusal's problem JSON, else its whole message."""
    try:
        detail = json.loads(error.body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) and detail else str(error)
    return text if text.endswith(".") else text + "."


def _problem_detail(response: Any) -> str | None:
    """The ``detail`` of an error answer (problem JSON), if it has one."""
    try:
        problem = response.json()
    except UnhandledResponseError:  # not JSON
        return None
    detail = problem.get("detail") if isinstance(problem, dict) else None
    return detail if isinstance(detail, str) and detail else None


#: The longest text of unsaved results written to the log.
_RESULTS_LOGGED = 4000
