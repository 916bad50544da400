"""[ext] Artifacts: files attached to jobs, ``experiments/NAME/jobs/ID/artifacts/[ARTIFACT/]``, ``…/NAME/artifacts/``.

Bodies stream both ways (see :mod:`schedy.server.service.artifacts`); the
service's 1 MiB body limit does not apply to uploads, which have limits of
their own (``--artifact-max-size``, ``--artifact-quota``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, path_name, services
from schedy.server.errors import BadRequest, NotFound, PreconditionFailed
from schedy.server.service.artifacts import TRAILER, check_artifact_name
from schedy.server.store.artifacts import ArtifactRow
from schedy.server.wire import iso, page_token, read_page_token

router = APIRouter(tags=["artifacts"])

#: The header carrying an artifact's SHA-256 (hexadecimal), both ways.
SHA256_HEADER = "X-Schedy-Sha256"
#: Its value on an upload whose body ends with the SHA-256 (64 hexadecimal digits) instead.
TRAILING = "trailing"

_ARTIFACT = {
    "type": "object",
    "required": ["name", "size", "sha256", "createdAt"],
    "properties": {
        "name": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string"},
        "createdAt": {"type": "string"},
    },
}
_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    "parameters": [
        {
            "name": SHA256_HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "pattern": "^([0-9a-f]{64}|trailing)$"},
            "description": "the body's SHA-256: the upload is refused (400) if what arrived differs; 'trailing': "
            "the body's last 64 bytes are the SHA-256 of the rest, in hexadecimal (a client hashes while sending)",
        }
    ],
}
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the artifact's bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            SHA256_HEADER: {"schema": {"type": "string"}, "description": "the SHA-256 stored with the artifact"}
        },
    }
}


def _json(row: ArtifactRow) -> dict[str, object]:
    return {"name": row.name, "size": row.size, "sha256": row.sha256, "createdAt": iso(row.created_at)}


def _names(name: str, job_id: str, artifact: str | None = None) -> tuple[str, str, str]:
    exp, job = path_name(name, "experiment"), path_name(job_id, "job")
    if artifact is None:
        return exp, job, ""
    try:
        decoded = unquote(artifact, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The artifact name in the path is not percent-encoded UTF-8.") from None
    return exp, job, check_artifact_name(decoded)


@router.get(
    "/experiments/{name}/jobs/{job_id}/artifacts/",
    responses=schemas.answers({200: schemas.json_answer(schemas.page_of(_ARTIFACT), "the job's artifacts")}, 404),
)
async def list_artifacts(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """The job's artifacts, by name (one page: ``next`` is always null)."""
    exp, job, _ = _names(name, job_id)
    rows = await run_in_threadpool(services(request).artifacts.listing, user_id, exp, job)
    return JSONResponse({"items": [_json(row) for row in rows], "next": None})


_EXPERIMENT_ITEM = {
    "type": "object",
    "required": ["job", "name", "size", "sha256", "createdAt"],
    "properties": {
        "job": {"type": "string"},
        "name": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string"},
        "createdAt": {"type": "string"},
    },
}


@router.get(
    "/experiments/{name}/artifacts/",
    responses=schemas.answers(
        {200: schemas.json_answer(schemas.page_of(_EXPERIMENT_ITEM), "a page of the experiment's artifacts")}, 404
    ),
)
async def experiment_artifacts(
    request: Request,
    name: str,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """The artifacts of every job of the experiment (each with its ``job``), in the order stored, a page at a time."""
    svc = services(request)
    exp = path_name(name, "experiment")
    size = min(limit or svc.settings.page_size, svc.settings.max_page_size)
    scope = f"{user_id}/{exp}"
    after_key = read_page_token(start, kind="a", scope=scope)
    rows, after = await run_in_threadpool(svc.artifacts.experiment_page, user_id, exp, after_key, size)
    items = [{"job": job, **_json(row)} for job, row in rows]
    return JSONResponse({"items": items, "next": None if after is None else page_token(after, kind="a", scope=scope)})


@router.put(
    "/experiments/{name}/jobs/{job_id}/artifacts/{artifact}/",
    status_code=201,
    openapi_extra=_UPLOAD,
    responses=schemas.answers({201: schemas.json_answer(_ARTIFACT, "the stored artifact")}, 404),
)
async def upload_artifact(
    request: Request, name: str, job_id: str, artifact: str, user_id: int = Depends(current_user)
) -> Response:
    """Store the body as the job's artifact, replacing one of the same name.

    The body streams to the blob store; the artifact becomes visible only
    once all of it arrived (and matched ``X-Schedy-Sha256``, if sent; with
    ``X-Schedy-Sha256: trailing`` the body ends with the file's SHA-256 in
    64 hexadecimal digits, which ``Content-Length`` counts). 413
    when it is over the per-file limit or the user's quota: before the body
    is read if ``Content-Length`` says so (send ``Expect: 100-continue`` to
    learn it before sending the body).
    """
    exp, job, art = _names(name, job_id, artifact)
    svc = services(request).artifacts
    expected = request.headers.get(SHA256_HEADER)
    trailing = expected == TRAILING
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest("Content-Length must be a number of bytes.")
    size = None if declared is None else int(declared) - (TRAILER if trailing else 0)
    if size is not None and size < 0:
        raise BadRequest(f"With {SHA256_HEADER}: {TRAILING}, the body ends with 64 hexadecimal digits: it is shorter.")
    await run_in_threadpool(svc.check_room, user_id, exp, job, art, size)
    stream = request.stream()
    row = await svc.upload(user_id, exp, job, art, stream, None if trailing else expected, trailing_sha256=trailing)
    return JSONResponse(_json(row), status_code=201)


@router.get(
    "/experiments/{name}/jobs/{job_id}/artifacts/{artifact}/",
    response_class=StreamingResponse,
    responses=schemas.answers(_DOWNLOAD, 404),
)
async def download_artifact(
    request: Request, name: str, job_id: str, artifact: str, user_id: int = Depends(current_user)
) -> Response:
    """The artifact's bytes, streamed, with its SHA-256 in ``X-Schedy-Sha256``."""
    exp, job, art = _names(name, job_id, artifact)
    svc = services(request).artifacts
    row = await run_in_threadpool(svc.find, user_id, exp, job, art)
    file = await run_in_threadpool(svc.open_checked, row)
    headers = {
        "Content-Length": str(row.size),
        SHA256_HEADER: row.sha256,
        "ETag": f'"{row.sha256}"',
        "Content-Disposition": f'attachment; filename="{row.name}"',
    }
    return StreamingResponse(svc.chunks(file), media_type="application/octet-stream", headers=headers)


@router.delete(
    "/experiments/{name}/jobs/{job_id}/artifacts/{artifact}/",
    status_code=204,
    responses=schemas.answers({204: {"description": "deleted, or there was none"}}, 404, 412),
)
async def delete_artifact(
    request: Request, name: str, job_id: str, artifact: str, user_id: int = Depends(current_user)
) -> Response:
    """Delete the job's artifact (its bytes are removed within seconds).

    As every DELETE: 204 also when the job has no such artifact, unless ``If-Match`` was sent
    (``*``, or the artifact's ETag): then 412. A missing experiment or job is 404.
    """
    exp, job, art = _names(name, job_id, artifact)
    svc = services(request)
    if_match = request.headers.get("if-match", "").strip()
    try:
        if if_match not in ("", "*"):
            row = await run_in_threadpool(svc.artifacts.find, user_id, exp, job, art)
            if f'"{row.sha256}"' not in (tag.strip() for tag in if_match.split(",")):
                raise PreconditionFailed(
                    f"Artifact '{art}' of job '{job}' was replaced since you read it (its ETag is now "
                    f'"{row.sha256}"); nothing was deleted.'
                )
        await run_in_threadpool(svc.artifacts.delete, user_id, exp, job, art)
    except NotFound:
        # Which is missing? The experiment or the job stays 404; an absent artifact is already deleted.
        await run_in_threadpool(svc.jobs.get, user_id, exp, job)
        if if_match:
            raise PreconditionFailed(f"Job '{job}' of experiment '{exp}' has no artifact '{art}'.") from None
    return Response(status_code=204)
