"""The dashboard over HTTP: the page at ``/``, its assets, and ``/dashboard/api/…``.

The page is one HTML file and plain ES modules from ``static/``, served
with a Content-Security-Policy that allows nothing from elsewhere. The JSON
endpoints authenticate like the rest of the API (``current_user``: a Bearer
header or the dashboard's session cookie plus CSRF header).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.staticfiles import StaticFiles

from schedy.server.api import notes_routes, schemas
from schedy.server.api.deps import client_address, current_user, path_name, services
from schedy.server.dashboard import cookies
from schedy.server.dashboard.service import Dashboard
from schedy.server.errors import BadRequest, Invalid, Unauthenticated
from schedy.server.store import users
from schedy.server.wire import dumps, etag, parse_json, render_experiment, render_job

STATIC = Path(__file__).parent / "static"
PREFIX = "/dashboard/api"
#: Nothing from elsewhere: scripts, styles, images and requests stay on this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(prefix=PREFIX, tags=["dashboard"])


def dashboard(request: Request) -> Dashboard:
    """The dashboard use cases of the app handling ``request``."""
    found: Dashboard = request.app.state.dashboard
    return found


def _json(body: str, tag: str | None = None, status: int = 200) -> Response:
    headers = dict(_NO_CACHE)
    if tag is not None:
        headers["ETag"] = tag
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _not_modified(tag: str) -> Response:
    return Response(status_code=304, headers={"ETag": tag, **_NO_CACHE})


@router.post(
    "/session/",
    openapi_extra=schemas.body(
        {
            "type": "object",
            "required": ["email", "password"],
            "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
        }
    ),
    responses={**schemas.SESSION_RESPONSES, **schemas.problem_answers(415)},
)
async def log_in(request: Request) -> Response:
    """Log in with email and password: sets the session cookie (HttpOnly) and the CSRF cookie.

    Answers ``{"email", "csrf", "expiresAt"}``. The body must be sent as
    ``application/json``, which a form on another site cannot do.
    """
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return JSONResponse(
            {"title": "Unsupported media type", "status": 415, "detail": "Send the credentials as application/json."},
            status_code=415,
            media_type="application/problem+json",
        )
    body: Any = parse_json(await request.body())
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("email", "password")):
        raise Invalid('Send {"email": "...", "password": "..."} with both values as strings.')
    svc = services(request)
    # In the logins' own threads, as passauth/ (api/deps.py Logins): no claim or list of others delays it.
    token, expires_at = await to_thread.run_sync(
        svc.auth.login_with_password,
        body["email"],
        body["password"],
        client_address(request),
        limiter=svc.logins.threads,
    )
    email = users.normalise_email(body["email"])
    response = _json(dumps({"email": email, "csrf": cookies.csrf_token(token), "expiresAt": expires_at}))
    cookies.set_session(response, request, token, max(1, expires_at - int(time.time())), svc.settings.public_url)
    return response


@router.get("/session/", responses=schemas.answers({}))
async def who_am_i(request: Request, user_id: int = Depends(current_user)) -> Response:
    """The logged-in user: ``{"email"}`` (401 when not logged in)."""
    email = await run_in_threadpool(dashboard(request).email, user_id)
    if email is None:
        raise Unauthenticated("Your account no longer exists.")
    return _json(dumps({"email": email}))


@router.delete("/session/", status_code=204)
async def log_out(request: Request) -> Response:
    """Forget the session cookies in this browser."""
    response = Response(status_code=204)
    cookies.clear_session(response, request, services(request).settings.public_url)
    return response


@router.get("/experiments/", responses=schemas.answers({}))
async def experiment_list(request: Request, user_id: int = Depends(current_user)) -> Response:
    """Your experiments with job counts, last activity, objective and best job; ETag / If-None-Match."""
    tag, items = await run_in_threadpool(dashboard(request).summaries, user_id, request.headers.get("if-none-match"))
    if items is None:
        return _not_modified(tag)
    return _json(dumps({"items": items}), tag)


def _since(value: str | None) -> float | None:
    """The cursor of an earlier answer: a finite time, never before the epoch (NaN, ±inf: 400).

    A cursor later than the database clock is answered in full (:meth:`Dashboard.table`).
    """
    if value is None or value == "":
        return None
    try:
        since = float(value)
    except ValueError:
        since = math.nan
    if not math.isfinite(since) or since < 0:
        raise BadRequest(f"'since' must be the cursor of an earlier answer, got {value[:40]!r}.")
    return since


@router.get("/experiments/{name}/jobs/", responses=schemas.answers({}, 404))
async def job_columns(
    request: Request,
    name: str,
    since: str | None = Query(default=None),
    full: bool = Query(default=False),
    user_id: int = Depends(current_user),
) -> Response:
    """Every job of the experiment in columns (or those changed since ``since``); ETag / If-None-Match.

    A full answer may come as an earlier one plus a ``patch`` of the changes since;
    ``full=true`` asks for a fresh read of every job instead.
    """
    table = await run_in_threadpool(
        dashboard(request).table,
        user_id,
        path_name(name, "experiment"),
        _since(since),
        request.headers.get("if-none-match"),
        full=full,
    )
    if table.chunks is not None:
        # A full read, sent line by line as the service reads it (Dashboard.table). The first line
        # is read before answering, so a failure to read answers an error, not a cut-off 200.
        first = await run_in_threadpool(next, table.chunks)
        headers = {**_NO_CACHE, "ETag": table.etag}
        return StreamingResponse(itertools.chain([first], table.chunks), media_type="application/json", headers=headers)
    if table.body is None:
        return _not_modified(table.etag)
    return _json(table.body, table.etag)


@router.get("/experiments/{name}/records/", responses=schemas.answers({}, 404))
async def job_records(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Every job of the experiment in its wire form, for the table's downloads (``Dashboard.records``)."""
    lines = await run_in_threadpool(dashboard(request).records, user_id, path_name(name, "experiment"))
    return StreamingResponse(lines, media_type="application/json", headers=_NO_CACHE)


@router.get("/experiments/{name}/reports/", responses=schemas.answers({}, 404))
async def report_columns(
    request: Request,
    name: str,
    after: int = Query(default=0, ge=0, le=2**63 - 1),
    job: str | None = Query(default=None, max_length=200),
    per_job: int | None = Query(default=None, alias="perJob", ge=2, le=100_000),
    user_id: int = Depends(current_user),
) -> Response:
    """The experiment's (or one job's) intermediate reports after report ``after``, in columns.

    With ``perJob=N``, every new report of the experiment at once, at most about N per job (for curves).
    """
    body = await run_in_threadpool(
        dashboard(request).reports, user_id, path_name(name, "experiment"), after, job=job, per_job=per_job
    )
    return _json(body)


@router.get("/experiments/{name}/importance/", responses=schemas.answers({}, 404, 422))
async def importance(
    request: Request,
    name: str,
    result: str | None = Query(default=None, alias="objective", max_length=200),
    direction: str | None = Query(default=None, max_length=10),
    user_id: int = Depends(current_user),
) -> Response:
    """Each hyperparameter's importance for a result (PED-ANOVA over the DONE jobs); kept until they change.

    ``{"method", "objective", "direction", "jobs", "done", "sampled", "importances": [{"name", "importance"}],
    "unused": [NAME, ...]}``; an empty list while the declared objective has no finished job.
    """
    body = await run_in_threadpool(
        dashboard(request).importance, user_id, path_name(name, "experiment"), result or None, direction or None
    )
    return _json(body)


@router.get("/experiments/{name}/brackets/", responses=schemas.answers({}, 404))
async def hyperband_brackets(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """How many jobs that reported are in each Hyperband bracket: ``{"brackets": [{"bracket", "jobs", "stops"}]}``.

    Empty for another early-stopping policy. ``stops`` is false for the bracket that never stops (no rung).
    """
    body = await run_in_threadpool(dashboard(request).brackets, user_id, path_name(name, "experiment"))
    return _json(body)


@router.get("/experiments/{name}/jobs/{job_id}/", responses=schemas.answers({}, 404))
async def job_detail(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """One job with its ETag, parent, children, error and attempts; a weak ETag of the answer, 304 if unchanged."""
    body = await run_in_threadpool(
        dashboard(request).job, user_id, path_name(name, "experiment"), path_name(job_id, "job")
    )
    tag = 'W/"' + hashlib.blake2b(body.encode("utf-8"), digest_size=12).hexdigest() + '"'
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return _not_modified(tag)
    return _json(body, tag)


@router.post("/experiments/{name}/jobs/{job_id}/requeue/", responses=schemas.answers({}, 404, 409, 412))
async def requeue(request: Request, name: str, job_id: str, user_id: int = Depends(current_user)) -> Response:
    """Put a CRASHED job back in the queue (``If-Match``: only that version)."""
    exp = path_name(name, "experiment")
    row = await run_in_threadpool(
        dashboard(request).requeue, user_id, exp, path_name(job_id, "job"), request.headers.get("if-match")
    )
    return Response(render_job(row, exp), media_type="application/json", headers={"ETag": etag(row.pk, row.version)})


@router.put(
    "/experiments/{name}/status/",
    openapi_extra=schemas.body(
        {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["RUNNING", "DONE"]}}}
    ),
    responses=schemas.answers({}, 404),
)
async def experiment_status(request: Request, name: str, user_id: int = Depends(current_user)) -> Response:
    """Mark an experiment RUNNING or DONE; answers the experiment."""
    body: Any = parse_json(await request.body())
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise Invalid('Send {"status": "RUNNING"} or {"status": "DONE"}.')
    row = await run_in_threadpool(dashboard(request).set_status, user_id, path_name(name, "experiment"), body["status"])
    return _json(dumps(render_experiment(row)))


def asset_version(directory: Path = STATIC) -> str:
    """A digest of the page's files: their URLs carry it, so a browser keeps them until they change."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


class _Assets(StaticFiles):
    """The page's files, immutable under ``/dashboard/static/VERSION/``, revalidated without a version.

    The page uses the versioned URLs (see :func:`asset_version`): a new tab
    loads them from the browser's cache with no request at all, and an
    upgrade changes the URLs. Without a version they are revalidated on
    every load (cheap 304s).
    """

    def __init__(self, *, directory: Path, version: str) -> None:
        super().__init__(directory=directory)
        self.version = version

    def get_path(self, scope: Any) -> str:
        path = super().get_path(scope)
        head, _, rest = path.partition("/")
        if head == self.version and rest:
            scope["schedy_immutable"] = True
            return rest
        return path

    def file_response(self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        immutable = scope.get("schedy_immutable", False)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its API under ``/dashboard/api/`` (after the services are set up)."""
    app.state.dashboard = Dashboard(app.state.services.store)
    version = asset_version()
    # Every asset URL of the page names this version of the files (relative imports follow it).
    page = (STATIC / "index.html").read_text().replace("dashboard/static/", f"dashboard/static/{version}/").encode()

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, **_NO_CACHE})

    app.include_router(router)
    # Notes are public API (docs/protocol.md) that only the dashboard brought; they come with it.
    app.include_router(notes_routes.router)
    app.mount("/dashboard/static", _Assets(directory=STATIC, version=version), name="dashboard-static")
