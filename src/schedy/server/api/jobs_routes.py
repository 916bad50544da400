"""``experiments/NAME/jobs/…`` and ``experiments/NAME/nextjob/``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, NamedTuple, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from schedy._validate import shown
from schedy.server import draining
from schedy.server.api import schemas
from schedy.server.api.deps import Services, current_user, current_user_changing, path_name, services
from schedy.server.errors import Conflict, Invalid, NotFound, PreconditionFailed, ShuttingDown
from schedy.server.store.jobs import JobRecord
from schedy.server.wire import (
    JobInput,
    dumps,
    etag,
    page_token,
    parse_etags,
    parse_job,
    parse_json,
    read_page_token,
    render_job,
)

router = APIRouter(tags=["jobs"])
T = TypeVar("T")

_JOB_ANSWER = schemas.json_answer(schemas.JOB, "the job", etag=True)
# First pause of a long-polling nextjob; doubles up to _POLL_MAX.
_POLL_FIRST, _POLL_MAX = 0.02, 0.5


def _job_response(row: JobRecord, experiment: str, status: int = 200) -> Response:
    return Response(
        render_job(row, experiment),
        status_code=status,
        media_type="application/json",
        headers={"ETag": etag(row.pk, row.version)},
    )


@router.post(
    "/experiments/{name}/jobs/",
    status_code=201,
    openapi_extra=schemas.body(schemas.JOB_BODY),
    responses=schemas.answers({201: _JOB_ANSWER}, 404),
)
async def add_job(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Add a job (QUEUED unless the body gives another status)."""
    exp = path_name(name, "experiment")
    job = parse_job(await request.body(), default_status="QUEUED")
    row = await run_in_threadpool(services(request).jobs.add, user_id, exp, job)
    return _job_response(row, exp, 201)


@router.get(
    "/experiments/{name}/jobs/",
    responses=schemas.answers({200: schemas.json_answer(schemas.page_of(schemas.JOB), "a page")}, 404),
)
async def list_jobs(
    request: Request,
    name: str,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """List an experiment's jobs, oldest first, one keyset page at a time."""
    svc = services(request)
    exp = path_name(name, "experiment")
    size = min(limit or svc.settings.page_size, svc.settings.max_page_size)
    scope = f"{user_id}/{exp}"
    rows, after = await run_in_threadpool(
        svc.jobs.page, user_id, exp, read_page_token(start, kind="j", scope=scope), size
    )
    items = ",".join(render_job(r, exp) for r in rows)
    following = dumps(None if after is None else page_token(after, kind="j", scope=scope))
    return Response(f'{{"items":[{items}],"next":{following}}}', media_type="application/json")


@router.get("/experiments/{name}/jobs/{job_id}/", responses=schemas.answers({200: _JOB_ANSWER}, 404))
async def get_job(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Read a job and its ETag."""
    exp = path_name(name, "experiment")
    row = await run_in_threadpool(services(request).jobs.get, user_id, exp, path_name(job_id, "job"))
    return _job_response(row, exp)


@router.put(
    "/experiments/{name}/jobs/{job_id}/",
    openapi_extra=schemas.body(schemas.JOB_BODY),
    responses=schemas.answers({200: _JOB_ANSWER, 201: _JOB_ANSWER}, 404, 412),
)
async def put_job(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Replace a job (``If-Match: ETAG``: only if unchanged) or create it (``If-None-Match: *``)."""
    headers = request.headers
    answer = await put_answer(
        services(request),
        user_id,
        name,
        job_id,
        await request.body(),
        headers.get("if-match"),
        headers.get("if-none-match"),
    )
    return answer.response()


@router.delete("/experiments/{name}/jobs/{job_id}/", status_code=204, responses=schemas.answers({}, 404, 412))
async def delete_job(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Delete a job; ``If-Match: *`` or an ETag: 412 if it is gone or changed since."""
    if_match = request.headers.get("if-match")
    exp = path_name(name, "experiment")
    await run_in_threadpool(
        lambda: services(request).jobs.delete(user_id, exp, path_name(job_id, "job"), if_match=if_match)
    )
    return Response(status_code=204)


@router.post("/experiments/{name}/jobs/{job_id}/heartbeat/", responses=schemas.answers({200: _JOB_ANSWER}, 404, 412))
async def heartbeat(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """[ext] Extend the lease of a RUNNING job; 412 when the job is no longer RUNNING."""
    exp = path_name(name, "experiment")
    row = await run_in_threadpool(services(request).jobs.heartbeat, user_id, exp, path_name(job_id, "job"))
    return _job_response(row, exp)


def _number(options: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"Option '{key}' must be a number of seconds, got {shown(value)}.")
    if not low <= value <= high:  # also NaN, infinities and integers past a float (compared exactly)
        raise Invalid(f"Option '{key}' must be between {low:g} and {high:g} seconds, got {shown(value)}.")
    return float(value)


@router.get(
    "/experiments/{name}/nextjob/", responses=schemas.answers({200: _JOB_ANSWER, 204: {"description": "no job"}}, 404)
)
async def next_job_get(request: Request, name: str, user_id: int = Depends(current_user_changing)) -> Response:
    """Hand out the next job, RUNNING (204 when there is none): the 0.1.0b6 client's call."""
    answer = await claim_answer(services(request), user_id, name, b"", request.is_disconnected)
    return answer.response()


@router.post(
    "/experiments/{name}/nextjob/",
    openapi_extra=schemas.body(schemas.NEXTJOB_OPTIONS, required=False),
    responses=schemas.answers({200: _JOB_ANSWER, 204: {"description": "no job"}}, 404),
)
async def next_job_post(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """[ext] Claim the next job in one request; options: worker, heartbeat, wait (long poll)."""
    answer = await claim_answer(services(request), user_id, name, await request.body(), request.is_disconnected)
    return answer.response()


# -- the worker loop's two requests ------------------------------------------------------
#
# nextjob and the job update are what every worker sends for every job, so
# they are written once, as functions of the request's parts, for both
# the routes above and the fast path of :mod:`schedy.server.api.hotpath`.
# On SQLite their use cases run through :meth:`schedy.server.store.Store.run`:
# inline on the event loop, where a short transaction (tens of microseconds,
# no network) costs less than a hand-over to a thread, but never waiting
# there for a lock. On PostgreSQL they are awaited on the event loop
# (asyncpg, :mod:`schedy.server.store.aio`): a request waiting on a round
# trip holds no thread, and others are served meanwhile (see
# docs/benchmarks.md).


class Answer(NamedTuple):
    """A job answer: status, JSON body (empty for 204) and ETag."""

    status: int
    body: str
    etag: str | None

    def response(self) -> Response:
        """The answer as a Starlette response."""
        if self.status == 204:
            return Response(status_code=204)
        headers = None if self.etag is None else {"ETag": self.etag}
        return Response(self.body, status_code=self.status, media_type="application/json", headers=headers)


_NO_JOB = Answer(204, "", None)


def _job_answer(row: JobRecord, experiment: str, status: int = 200) -> Answer:
    return Answer(status, render_job(row, experiment), etag(row.pk, row.version))


async def put_answer(
    svc: Services,
    user_id: int,
    raw_name: str,
    raw_job_id: str,
    body: bytes,
    if_match: str | None,
    if_none_match: str | None,
) -> Answer:
    """``PUT experiments/NAME/jobs/ID/`` for an authenticated user (names still percent-encoded)."""
    exp = path_name(raw_name, "experiment")
    job = parse_job(body, default_status=None)
    job_id = path_name(raw_job_id, "job")
    create_only = if_none_match is not None and if_none_match.strip() == "*"
    if if_none_match is not None and not create_only:
        refused = _weak_etags(if_none_match)
        if refused:  # never sent by the clients' worker loops: its extra read is off the hot path
            return await _put_unless(svc, user_id, exp, job_id, job, if_match, refused)
    row, created = await _put(svc, user_id, exp, job_id, job, if_match, create_only)
    return _job_answer(row, exp, 201 if created else 200)


async def _put(
    svc: Services, user_id: int, exp: str, job_id: str, job: JobInput, if_match: str | None, create_only: bool
) -> tuple[JobRecord, bool]:
    if svc.store.aio is not None:  # PostgreSQL: on the event loop
        return await svc.jobs.put_async(user_id, exp, job_id, job, if_match=if_match, if_none_match=create_only)
    return await svc.store.run(
        lambda: svc.jobs.put(user_id, exp, job_id, job, if_match=if_match, if_none_match=create_only)
    )


def _weak_etags(header: str) -> list[tuple[int, int]]:
    """The job versions an If-None-Match header names (compared weakly, as RFC 9110 says: ``W/`` ignored)."""
    return parse_etags(",".join(part.strip().removeprefix("W/") for part in header.split(",")))


#: How many times a PUT with If-None-Match ETags reads the job again when it changed under the update.
_NONE_MATCH_TRIES = 3


async def _put_unless(
    svc: Services,
    user_id: int,
    exp: str,
    job_id: str,
    job: JobInput,
    if_match: str | None,
    refused: list[tuple[int, int]],
) -> Answer:
    """A PUT with ``If-None-Match: ETAG, …``: 412 while the job is one of those versions.

    With If-Match ETags too, the versions left once the refused are taken out are
    the update's precondition. Otherwise the job is read, and updated only if it is
    still the version read (created only if it was absent), so that no refused
    version can come between the check and the update.
    """
    if if_match is not None and if_match.strip() != "*":
        allowed = [tag for tag in parse_etags(if_match) if tag not in refused]
        if not allowed:
            raise PreconditionFailed(
                f"Job '{job_id}' was not updated: every ETag of If-Match is also in If-None-Match."
            )
        row, created = await _put(svc, user_id, exp, job_id, job, ", ".join(etag(*tag) for tag in allowed), False)
        return _job_answer(row, exp, 201 if created else 200)
    for _ in range(_NONE_MATCH_TRIES):
        try:
            current: JobRecord | None = await svc.store.run(partial(svc.jobs.get, user_id, exp, job_id))
        except NotFound:
            current = None  # no job (a missing experiment is 404 at the update)
        if current is not None and (current.pk, current.version) in refused:
            raise PreconditionFailed(
                f"Job '{job_id}' is still the version If-None-Match names ({etag(current.pk, current.version)}); "
                "nothing was changed."
            )
        if current is None and if_match is not None:
            raise PreconditionFailed(f"Job '{job_id}' does not exist in experiment '{exp}', so If-Match: * fails.")
        expected = None if current is None else etag(current.pk, current.version)
        try:
            row, created = await _put(svc, user_id, exp, job_id, job, expected, current is None)
        except PreconditionFailed:
            continue  # changed (or made) since it was read: check again
        return _job_answer(row, exp, 201 if created else 200)
    raise Conflict(f"Job '{job_id}' kept changing while its If-None-Match was checked; send the request again.")


async def claim_answer(
    svc: Services, user_id: int, raw_name: str, body: bytes, is_disconnected: Callable[[], Awaitable[bool]]
) -> Answer:
    """``POST`` (or, with an empty body, ``GET``) ``experiments/NAME/nextjob/`` for an authenticated user."""
    exp = path_name(raw_name, "experiment")
    options = parse_json(body) if body.strip() else {}
    if not isinstance(options, dict):
        raise Invalid('The nextjob options must be a JSON object, e.g. {"wait": 10}.')
    unknown = sorted(options.keys() - {"worker", "heartbeat", "wait"})
    if unknown:
        raise Invalid(f"Unknown nextjob option(s) {', '.join(map(repr, unknown))}; use worker, heartbeat, wait.")
    worker = options.get("worker")
    if worker is not None and (
        not isinstance(worker, str) or len(worker) > 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in worker)
    ):
        raise Invalid("Option 'worker' must be a string of at most 200 printable characters.")
    beat = _number(options, "heartbeat", 0.001, 86_400.0)
    wait = _number(options, "wait", 0.0, svc.settings.max_wait) or 0.0
    # A claim that turns out long (its scheduler reads the history) moves itself off the loop.
    claim: Callable[[], Awaitable[JobRecord | None]]
    if svc.store.aio is not None:  # PostgreSQL: on the event loop
        claim = partial(svc.claims.claim_async, user_id, exp, worker=worker, heartbeat=beat)
    else:
        # In the claims' own threads when it leaves the loop: claims waiting for their turn hold only those.
        claim = partial(
            svc.store.run,
            partial(svc.claims.claim, user_id, exp, worker=worker, heartbeat=beat),
            limiter=svc.claims.threads,
        )
    row = await claim()
    if row is not None:
        return _job_answer(row, exp)
    if wait <= 0:
        return _NO_JOB
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = _POLL_FIRST
    done = partial(svc.jobs.experiment_done, user_id, exp)
    while True:
        remaining = deadline - loop.time()
        # A caller that went away must not be handed a job nobody will run;
        # an experiment that is DONE (e.g. PBT reached maxGenerations) will hand out nothing.
        if remaining <= 0 or await is_disconnected() or await svc.store.run(done):
            return _NO_JOB
        if draining.draining():
            # Stopping: cancelled at uvicorn's deadline this poll would be answered 500, which ends a
            # worker's loop; a 503 makes it wait for the service to come back and claim again.
            raise ShuttingDown("The service is shutting down (a restart?); send the request again in a moment.")
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, _POLL_MAX)
        # Again right before claiming: a worker stopped during the pause (Ctrl-C) just as work arrived
        # would be handed a job it never runs, RUNNING until its lease lapses, then CRASHED.
        if await is_disconnected():
            return _NO_JOB
        row = await claim()
        if row is not None:
            return _job_answer(row, exp)
