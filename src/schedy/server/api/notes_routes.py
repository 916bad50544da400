"""[ext] Notes on experiments and jobs: ``experiments/NAME/notes/``, ``experiments/NAME/jobs/ID/notes/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, path_name, services
from schedy.server.service.notes import MAX_CHARACTERS, Notes
from schedy.server.wire import dumps, parse_json

__all__ = ["router"]

router = APIRouter(tags=["notes"])

_NOTE = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "maxLength": MAX_CHARACTERS, "description": "empty removes the note"}},
    "additionalProperties": False,
}
_ANSWER: dict[int | str, dict[str, Any]] = {
    200: schemas.json_answer({"type": "object", "properties": {"text": {}, "updatedAt": {}}}, "the note")
}


def _notes(request: Request) -> Notes:
    return Notes(services(request).store)


def _answer(note: dict[str, object]) -> Response:
    return Response(dumps(note), media_type="application/json", headers={"Cache-Control": "no-cache"})


@router.get("/experiments/{name}/notes/", responses=schemas.answers(_ANSWER, 404))
async def experiment_note(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """The experiment's note and its jobs' notes: ``{"text", "updatedAt", "jobs": {"ID": "note", …}}``.

    ``text`` is ``""`` and ``updatedAt`` null when the experiment has no note;
    ``jobs`` lists only the jobs that have one (what exports add to the jobs).
    """
    return _answer(await run_in_threadpool(_notes(request).get, user_id, path_name(name, "experiment")))


@router.put(
    "/experiments/{name}/notes/", openapi_extra=schemas.body(_NOTE), responses=schemas.answers(_ANSWER, 404, 413)
)
async def set_experiment_note(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Replace the experiment's note (``{"text": ""}`` removes it); answers the note as kept."""
    body = parse_json(await request.body())
    return _answer(await run_in_threadpool(_notes(request).put, user_id, path_name(name, "experiment"), None, body))


@router.get("/experiments/{name}/jobs/{job_id}/notes/", responses=schemas.answers(_ANSWER, 404))
async def job_note(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """The job's note: ``{"text", "updatedAt"}``."""
    exp, job = path_name(name, "experiment"), path_name(job_id, "job")
    return _answer(await run_in_threadpool(_notes(request).get, user_id, exp, job))


@router.put(
    "/experiments/{name}/jobs/{job_id}/notes/",
    openapi_extra=schemas.body(_NOTE),
    responses=schemas.answers(_ANSWER, 404, 413),
)
async def set_job_note(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Replace the job's note (``{"text": ""}`` removes it); answers the note as kept."""
    exp, job = path_name(name, "experiment"), path_name(job_id, "job")
    body = parse_json(await request.body())
    return _answer(await run_in_threadpool(_notes(request).put, user_id, exp, job, body))
