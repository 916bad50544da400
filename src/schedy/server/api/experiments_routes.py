"""``experiments/`` and ``experiments/NAME/``."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, current_user_fresh, path_name, services
from schedy.server.errors import PreconditionFailed
from schedy.server.legacy import is_legacy, samples_inside
from schedy.server.wire import dumps, iso, page_token, parse_experiment, read_page_token, render_experiment

router = APIRouter(tags=["experiments"])


def _view(request: Request) -> tuple[bool, bool]:
    """How the client that sent ``request`` reads experiments, by its User-Agent.

    ``render_experiment``'s ``legacy`` (the 2018 client) and ``sampler_inside`` (Schedy's own up to 0.2.0.dev0).
    """
    agent = request.headers.get("user-agent")
    return is_legacy(agent), samples_inside(agent)


def _limit(request: Request, limit: int | None) -> int:
    settings = services(request).settings
    return min(limit or settings.page_size, settings.max_page_size)


@router.get(
    "/experiments/",
    responses=schemas.answers({200: schemas.json_answer(schemas.page_of(schemas.EXPERIMENT), "a page")}),
)
async def list_experiments(
    request: Request,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """List your experiments, oldest first, one keyset page at a time."""
    scope = str(user_id)
    after_key = read_page_token(start, below=2**31, kind="e", scope=scope)
    rows, after = await run_in_threadpool(
        services(request).experiments.page, user_id, after_key, _limit(request, limit)
    )
    legacy, inside = _view(request)
    items = [render_experiment(r, legacy=legacy, sampler_inside=inside) for r in rows]
    following = None if after is None else page_token(after, kind="e", scope=scope)
    return Response(dumps({"items": items, "next": following}), media_type="application/json")


def _if_match(request: Request, name: str, doing: str) -> bool:
    """Whether ``If-Match: *`` was sent; 412 for any other If-Match: experiments have no ETag to match."""
    if_match = request.headers.get("if-match", "").strip()
    if if_match not in ("", "*"):
        raise PreconditionFailed(
            f"Experiment '{name}' was not {doing}: experiments have no ETag, so If-Match can only be *."
        )
    return if_match == "*"


@router.put(
    "/experiments/{name}/",
    openapi_extra=schemas.body(schemas.EXPERIMENT_BODY),
    responses=schemas.answers(
        {
            200: schemas.json_answer(schemas.EXPERIMENT, "replaced"),
            201: schemas.json_answer(schemas.EXPERIMENT, "created"),
        },
        412,
    ),
)
async def put_experiment(request: Request, name: str, user_id: int = Depends(current_user_fresh)) -> Response:
    """Create an experiment (``If-None-Match: *``: only if absent) or replace it (``If-Match: *``: only if present).

    Experiments have no ETag: any other If-Match fails (412), any other If-None-Match holds.
    """
    exp_name = path_name(name, "experiment")
    spec = parse_experiment(await request.body())
    create_only = request.headers.get("if-none-match", "").strip() == "*"
    replace_only = _if_match(request, exp_name, "replaced")
    legacy, inside = _view(request)
    row, created = await run_in_threadpool(
        lambda: services(request).experiments.put(
            user_id,
            exp_name,
            spec,
            create_only=create_only,
            replace_only=replace_only,
            legacy=legacy,
            sampler_inside=inside,
        )
    )
    return JSONResponse(
        render_experiment(row, legacy=legacy, sampler_inside=inside), status_code=201 if created else 200
    )


@router.get(
    "/experiments/{name}/",
    responses=schemas.answers({200: schemas.json_answer(schemas.EXPERIMENT, "the experiment")}, 404),
)
async def get_experiment(
    request: Request, name: str, counts: bool = False, user_id: int = Depends(current_user)
) -> Response:
    """Read an experiment; ``?counts=true`` adds ``jobCounts`` by status and ``jobsCreated``."""
    row, extra = await run_in_threadpool(
        services(request).experiments.get, user_id, path_name(name, "experiment"), counts=counts
    )
    legacy, inside = _view(request)
    return Response(
        dumps(render_experiment(row, extra, legacy=legacy, sampler_inside=inside)), media_type="application/json"
    )


@router.delete("/experiments/{name}/", status_code=204, responses=schemas.answers({}, 412))
async def delete_experiment(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Delete an experiment and all its jobs (``If-Match: *``: 412 if it was already gone; other If-Match: 412)."""
    exp_name = path_name(name, "experiment")
    ensure = _if_match(request, exp_name, "deleted")
    await run_in_threadpool(services(request).experiments.delete, user_id, exp_name, ensure=ensure)
    return Response(status_code=204)


@router.get("/experiments/{name}/events/", responses=schemas.answers({}, 404))
async def experiment_events(
    request: Request,
    name: str,
    start: str | None = None,
    limit: int | None = Query(default=None, ge=1),
    user_id: int = Depends(current_user),
) -> Response:
    """[ext] The experiment's event log (e.g. every PBT exploit), oldest first."""
    exp_name = path_name(name, "experiment")
    scope = f"{user_id}/{exp_name}"
    rows, after = await run_in_threadpool(
        services(request).experiments.events,
        user_id,
        exp_name,
        read_page_token(start, kind="v", scope=scope),
        _limit(request, limit),
    )
    items = [{"id": r.id, "createdAt": iso(r.created_at), **json.loads(r.payload)} for r in rows]
    following = None if after is None else page_token(after, kind="v", scope=scope)
    return Response(dumps({"items": items, "next": following}), media_type="application/json")
