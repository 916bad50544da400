"""[ext] Why a job crashed: ``PUT experiments/NAME/jobs/ID/error/`` (see :mod:`schedy.server.service.attempts`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, path_name, services
from schedy.server.service.attempts import Attempts, parse_error
from schedy.server.wire import etag, parse_json

router = APIRouter(tags=["jobs"])

_ERROR = {
    "type": "object",
    "required": ["type", "message"],
    "properties": {
        "type": {"type": "string", "maxLength": 200, "description": "the exception's class, e.g. ValueError"},
        "message": {"type": "string", "maxLength": 10_000},
        "traceback": {"type": "string", "maxLength": 50_000, "description": "its last frames"},
    },
    "additionalProperties": False,
}


@router.put(
    "/experiments/{name}/jobs/{job_id}/error/",
    status_code=204,
    openapi_extra=schemas.body(_ERROR),
    responses=schemas.answers({204: {"description": "kept; the job's new ETag in ETag"}}, 404, 409),
)
async def report_error(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Say why a CRASHED job crashed: the exception's type, message and traceback tail.

    The job's end reason becomes ``raised``; the dashboard shows the error
    with the attempt. 409 when the job is not CRASHED.
    """
    exp, job = path_name(name, "experiment"), path_name(job_id, "job")
    attempts = Attempts(services(request).store)
    await run_in_threadpool(attempts.check_job, user_id, exp, job)
    error = parse_error(parse_json(await request.body()))
    row = await run_in_threadpool(attempts.report_error, user_id, exp, job, error)
    return Response(status_code=204, headers={"ETag": etag(row.pk, row.version)})
