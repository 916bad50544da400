"""The worker loop's requests, served without the framework's per-request machinery.

For every job, every worker sends ``POST experiments/NAME/nextjob/`` and
``PUT experiments/NAME/jobs/ID/``, and with early stopping ``POST
experiments/NAME/jobs/ID/reports/`` once per epoch. Through FastAPI each pays for matching
the path against every route, resolving dependencies, building request and
response objects and passing three more middleware layers: more than the
claim itself costs on SQLite. :class:`HotPaths` recognises exactly these
requests when they carry an ``Authorization`` header and answers them with
what the routes use: :func:`~schedy.server.api.jobs_routes.claim_answer`,
:func:`~schedy.server.api.jobs_routes.put_answer` and
:func:`~schedy.server.api.reports_routes.report_answer`, the same session check
(:class:`~schedy.server.api.deps.Sessions`), the same body limit, the same
problem+json errors. Anything else (other paths and methods, the dashboard's
cookie sessions, a path without its trailing slash, an application mounted
under a root path) goes to the application unchanged, and the routes stay
declared in FastAPI, which documents them in OpenAPI.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedy.server.api.bodies import read_body, routing_path, secured
from schedy.server.api.deps import Services
from schedy.server.api.jobs_routes import Answer, claim_answer, put_answer
from schedy.server.api.middleware import trouble_answer
from schedy.server.api.problems import from_service_error
from schedy.server.api.reports_routes import report_answer
from schedy.server.errors import ServiceError

_JSON = (b"content-type", b"application/json")

#: Every middleware of the application, and what the fast path does about it. The fast path
#: answers before any of them runs, so a middleware added to the application without a
#: decision here would silently not apply to the worker loop's requests (a test refuses that).
FAST_PATH_DECISIONS: dict[str, str] = {
    "HotPaths": "is the fast path itself (outermost)",
    "RawPathRouting": "applied: the fast path routes on bodies.routing_path, as this middleware does",
    "BodyLimit": "applied: the fast path reads with bodies.read_body, the same declared and streamed limits",
    "SecurityHeaders": "applied: the fast path sends through bodies.secured, as this middleware does",
    "DatabaseTrouble": "applied: the fast path answers the database's troubles with trouble_answer, as it does",
}


def _route(method: str, path: str) -> tuple[str, str, str | None] | None:
    """``(what, experiment, job id or None)`` if ``method path`` is one of the fast requests, else ``None``."""
    parts = path.split("/")
    # "/experiments/NAME/nextjob/" → ["", "experiments", NAME, "nextjob", ""]
    if len(parts) < 5 or parts[1] != "experiments" or not parts[2] or parts[-1]:
        return None
    if method == "POST":
        if len(parts) == 5 and parts[3] == "nextjob":
            return "claim", parts[2], None
        # "/experiments/NAME/jobs/ID/reports/" → ["", "experiments", NAME, "jobs", ID, "reports", ""]
        if len(parts) == 7 and parts[3] == "jobs" and parts[4] and parts[5] == "reports":
            return "report", parts[2], parts[4]
    elif len(parts) == 6 and parts[3] == "jobs" and parts[4]:
        return "put", parts[2], parts[4]
    return None


class HotPaths:
    """ASGI middleware answering nextjob, job updates and reports directly (see the module's docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the fast requests; pass everything else on."""
        method = scope.get("method")
        if scope["type"] == "http" and (method == "POST" or method == "PUT") and not scope.get("root_path"):
            route = _route(method, routing_path(scope))
            if route is not None:
                headers = _headers(scope)
                authorization = headers.get(b"authorization")
                if authorization is not None:
                    await self._serve(route, authorization, headers, scope, receive, secured(send))
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self,
        route: tuple[str, str, str | None],
        authorization: str,
        headers: dict[bytes, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        svc: Services = scope["app"].state.services
        what, name, job_id = route
        try:
            user_id = await svc.sessions.user_id(svc.auth, authorization)
            body = await read_body(scope, receive, self.max_body_bytes)
            if job_id is None:
                answer = await claim_answer(svc, user_id, name, body, _Disconnected(receive))
            elif what == "report":
                answer = await report_answer(svc, user_id, name, job_id, body)
            else:
                answer = await put_answer(
                    svc, user_id, name, job_id, body, headers.get(b"if-match"), headers.get(b"if-none-match")
                )
        except ServiceError as exc:
            await from_service_error(exc)(scope, receive, send)
            return
        except Exception as exc:  # a full disk, a restart, a lost connection: 503 or 502, not 500
            trouble = trouble_answer(exc)
            if trouble is None:
                raise
            await trouble(scope, receive, send)
            return
        await _send(send, answer)


def _headers(scope: Scope) -> dict[bytes, str]:
    """The request's headers; the first of each name, as Starlette reads them (latin-1)."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key not in found:
            found[key] = value.decode("latin-1")
    return found


class _Disconnected:
    """``request.is_disconnected()`` for a request whose body was read: polls ``receive`` without waiting."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._gone = False

    async def __call__(self) -> bool:
        if not self._gone:
            message: Message = {}
            # As Starlette does: take a message only if one is there already.
            with anyio.CancelScope() as scope:
                scope.cancel()
                message = await self._receive()
            if message.get("type") == "http.disconnect":
                self._gone = True
        return self._gone


async def _send(send: Send, answer: Answer) -> None:
    if answer.status == 204:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = answer.body.encode()
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    if answer.etag is not None:
        headers.append((b"etag", answer.etag.encode("latin-1")))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
