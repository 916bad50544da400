"""``experiments/NAME/jobs/…`` and ``experiments/NAME/nextjob/``."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, path_name, services
from schedy.server.errors import Invalid
from schedy.server.store.jobs import JobRow
from schedy.server.wire import dumps, etag, page_token, parse_job, parse_json, read_page_token, render_job

router = APIRouter(tags=["jobs"])

_JOB_ANSWER = schemas.json_answer(schemas.JOB, "the job", etag=True)
# First pause of a long-polling nextjob; doubles up to _POLL_MAX.
_POLL_FIRST, _POLL_MAX = 0.02, 0.5


def _job_response(row: JobRow, experiment: str, status: int = 200) -> Response:
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
    rows, after = await run_in_threadpool(svc.jobs.page, user_id, exp, read_page_token(start), size)
    items = ",".join(render_job(r, exp) for r in rows)
    following = dumps(None if after is None else page_token(after))
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
    exp = path_name(name, "experiment")
    job = parse_job(await request.body(), default_status=None)
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match", "").strip() == "*"
    row, created = await run_in_threadpool(
        lambda: services(request).jobs.put(
            user_id, exp, path_name(job_id, "job"), job, if_match=if_match, if_none_match=if_none_match
        )
    )
    return _job_response(row, exp, 201 if created else 200)


@router.delete("/experiments/{name}/jobs/{job_id}/", status_code=204, responses=schemas.answers({}, 404, 412))
async def delete_job(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Delete a job (``If-Match: *``: 412 if it was already gone)."""
    ensure = request.headers.get("if-match", "").strip() == "*"
    exp = path_name(name, "experiment")
    await run_in_threadpool(
        lambda: services(request).jobs.delete(user_id, exp, path_name(job_id, "job"), ensure=ensure)
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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"Option '{key}' must be a number of seconds, got {value!r}.")
    if not low <= value <= high:
        raise Invalid(f"Option '{key}' must be between {low:g} and {high:g} seconds, got {value!r}.")
    return float(value)


async def _claim(request: Request, user_id: int, exp: str, options: dict[str, Any]) -> Response:
    svc = services(request)
    unknown = sorted(options.keys() - {"worker", "heartbeat", "wait"})
    if unknown:
        raise Invalid(f"Unknown nextjob option(s) {', '.join(map(repr, unknown))}; use worker, heartbeat, wait.")
    worker = options.get("worker")
    if worker is not None and (not isinstance(worker, str) or len(worker) > 200):
        raise Invalid("Option 'worker' must be a string of at most 200 characters.")
    beat = _number(options, "heartbeat", 0.001, 86_400.0)
    wait = _number(options, "wait", 0.0, svc.settings.max_wait) or 0.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = _POLL_FIRST
    while True:
        row = await run_in_threadpool(lambda: svc.jobs.claim(user_id, exp, worker=worker, heartbeat=beat))
        if row is not None:
            return _job_response(row, exp)
        remaining = deadline - loop.time()
        # A caller that went away must not be handed a job nobody will run.
        if remaining <= 0 or await request.is_disconnected():
            return Response(status_code=204)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, _POLL_MAX)


@router.get(
    "/experiments/{name}/nextjob/", responses=schemas.answers({200: _JOB_ANSWER, 204: {"description": "no job"}}, 404)
)
async def next_job_get(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Hand out the next job, RUNNING (204 when there is none): the 0.1.0b6 client's call."""
    return await _claim(request, user_id, path_name(name, "experiment"), {})


@router.post(
    "/experiments/{name}/nextjob/",
    openapi_extra=schemas.body(schemas.NEXTJOB_OPTIONS, required=False),
    responses=schemas.answers({200: _JOB_ANSWER, 204: {"description": "no job"}}, 404),
)
async def next_job_post(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """[ext] Claim the next job in one request; options: worker, heartbeat, wait (long poll)."""
    exp = path_name(name, "experiment")
    body = await request.body()
    options = parse_json(body) if body.strip() else {}
    if not isinstance(options, dict):
        raise Invalid('The nextjob options must be a JSON object, e.g. {"wait": 10}.')
    return await _claim(request, user_id, exp, options)
