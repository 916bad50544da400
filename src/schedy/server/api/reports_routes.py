"""[ext] Intermediate reports and early stopping: ``…/jobs/ID/reports/``, ``experiments/NAME/reports/``."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from schedy._validate import MAX_STEP
from schedy.server.api import schemas
from schedy.server.api.deps import Services, current_user, path_name, services
from schedy.server.api.jobs_routes import Answer
from schedy.server.service.reports import MAX_BATCH, parse_reports
from schedy.server.wire import dumps, iso, page_token, parse_json, read_page_token

router = APIRouter(tags=["reports"])

_METRICS = {"type": "object", "additionalProperties": {"type": ["number", "null"]}}
_REPORT = {
    "type": "object",
    "required": ["step"],
    "properties": {"step": {"type": "integer", "minimum": 0, "maximum": MAX_STEP}, "metrics": _METRICS},
}
_REPORT_BODY = {
    "oneOf": [
        _REPORT,
        {
            "type": "object",
            "required": ["reports"],
            "properties": {"reports": {"type": "array", "items": _REPORT, "minItems": 1, "maxItems": MAX_BATCH}},
        },
    ]
}
_VERDICT = {
    "type": "object",
    "properties": {
        "stop": {"type": "boolean"},
        "reason": {"type": ["string", "null"]},
        "leaseExpiresAt": {"type": ["string", "null"]},
    },
}
_ITEM = {
    "type": "object",
    "properties": {
        "job": {"type": "string"},
        "step": {"type": "integer"},
        "time": {"type": "string"},
        "metrics": _METRICS,
        "attempt": {"type": "integer", "description": "the job's attempt that sent it (1, then 2 once re-queued)"},
    },
}


@router.post(
    "/experiments/{name}/jobs/{job_id}/reports/",
    openapi_extra=schemas.body(_REPORT_BODY),
    responses=schemas.answers({200: schemas.json_answer(_VERDICT, "whether the job should stop")}, 404, 412),
)
async def add_reports(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Record intermediate values of a RUNNING job; the answer says whether it should stop.

    A report renews the job's lease, as a heartbeat does. 412 when the job is
    no longer RUNNING.
    """
    return (await report_answer(services(request), user_id, name, job_id, await request.body())).response()


async def report_answer(svc: Services, user_id: int, raw_name: str, raw_job_id: str, body: bytes) -> Answer:
    """``POST experiments/NAME/jobs/ID/reports/`` for an authenticated user (names still percent-encoded).

    Shared by the route above and the worker loop's fast path (:mod:`schedy.server.api.hotpath`).
    """
    exp, job = path_name(raw_name, "experiment"), path_name(raw_job_id, "job")
    items = parse_reports(parse_json(body))
    if svc.store.aio is not None:  # PostgreSQL: on the event loop
        answer = await svc.reports.report_async(user_id, exp, job, items)
    else:
        answer = await svc.store.run(partial(svc.reports.report, user_id, exp, job, items))
    verdict = {"stop": answer.stop, "reason": answer.reason, "leaseExpiresAt": iso(answer.lease_expires_at)}
    return Answer(200, dumps(verdict), None)


@router.get(
    "/experiments/{name}/jobs/{job_id}/reports/",
    responses=schemas.answers({200: schemas.json_answer(schemas.page_of(_ITEM), "a page of the job's reports")}, 404),
)
async def job_reports(
    request: Request,
    name: str,
    job_id: str,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """A job's reports in the order they were received, one keyset page at a time."""
    svc = services(request)
    exp, job = path_name(name, "experiment"), path_name(job_id, "job")
    size = min(limit or svc.settings.page_size, svc.settings.max_page_size)
    scope = f"{user_id}/{exp}/{job}"
    rows, after = await run_in_threadpool(
        svc.reports.job_page, user_id, exp, job, read_page_token(start, kind="r", scope=scope), size
    )
    items = ",".join(
        f'{{"job":{dumps(job)},"step":{step},"time":{dumps(iso(at))},"metrics":{metrics},"attempt":{attempt}}}'
        for _pk, step, metrics, at, attempt in rows
    )
    following = dumps(None if after is None else page_token(after, kind="r", scope=scope))
    return Response(f'{{"items":[{items}],"next":{following}}}', media_type="application/json")


@router.get(
    "/experiments/{name}/reports/",
    responses=schemas.answers({200: schemas.json_answer(schemas.page_of(_ITEM), "a page of reports")}, 404),
)
async def experiment_reports(
    request: Request,
    name: str,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """Every report of an experiment's jobs, in the order they were received, one keyset page at a time."""
    svc = services(request)
    exp = path_name(name, "experiment")
    size = min(limit or svc.settings.page_size, svc.settings.max_page_size)
    scope = f"{user_id}/{exp}"
    rows, after = await run_in_threadpool(
        svc.reports.experiment_page, user_id, exp, read_page_token(start, kind="R", scope=scope), size
    )
    items = ",".join(
        f'{{"job":{dumps(r.job_id)},"step":{r.step},"time":{dumps(iso(r.created_at))},"metrics":{r.metrics},'
        f'"attempt":{r.attempt}}}'
        for r in rows
    )
    following = dumps(None if after is None else page_token(after, kind="R", scope=scope))
    return Response(f'{{"items":[{items}],"next":{following}}}', media_type="application/json")


@router.get("/experiments/{name}/stopping/", responses=schemas.answers({}, 404))
async def stopping(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """The experiment's early-stopping policy and what it has seen (e.g. how many jobs reached each rung)."""
    svc = services(request)
    summary = await run_in_threadpool(svc.reports.summary, user_id, path_name(name, "experiment"))
    return JSONResponse(summary)
