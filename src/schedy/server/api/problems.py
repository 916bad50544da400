"""Errors as ``application/problem+json`` answers: the one status table."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import compile_path

from schedy.server import errors
from schedy.server.api.bodies import routing_path

logger = logging.getLogger("schedy.server")

STATUS: dict[type[errors.ServiceError], int] = {
    errors.BadRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.Invalid: 422,
    errors.TooManyRequests: 429,
    errors.StorageUnavailable: 503,
    errors.ShuttingDown: 503,
}

_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
}


#: The longest ``detail``: one readable sentence, even when it quotes what a client sent.
MAX_DETAIL = 500


def _one_line(detail: str) -> str:
    """``detail`` on one line, its middle cut if too long (the end says what to do)."""
    detail = " ".join(detail.split())
    if len(detail) <= MAX_DETAIL:
        return detail
    return detail[: MAX_DETAIL - 151] + " … " + detail[-148:]


def problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """A problem+json answer with one readable sentence in ``detail`` (at most :data:`MAX_DETAIL` characters)."""
    body = json.dumps({"title": title, "status": status, "detail": _one_line(detail)}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/problem+json", headers=headers)


def from_service_error(exc: errors.ServiceError) -> Response:
    """The answer for a use case's failure."""
    status = STATUS[type(exc)]
    headers = {"WWW-Authenticate": 'Bearer realm="schedy"'} if status == 401 else None
    if isinstance(exc, (errors.TooManyRequests, errors.ShuttingDown, errors.StorageUnavailable)):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(status, exc.title, exc.detail, headers)


def allowed_methods(request: Request) -> str:
    """Every documented method of ``request``'s path, for a 405's ``Allow`` header (empty if none).

    Starlette's router stops at the first route whose path matches, so its own
    header names only that route's methods when a path has several; the OpenAPI
    document lists them all, whatever the framework's version does inside.
    """
    path = routing_path(request.scope)
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern, _, _ = compile_path(template)
        if pattern.match(path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Make every error, ours or the framework's, a problem+json answer."""

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.ServiceError)  # noqa: S101 - registered for this class only
        return from_service_error(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this class only
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = exc.headers
        if exc.status_code == 404:
            detail = f"There is nothing at {request.url.path}; see /docs for the API."
        elif exc.status_code == 405:
            allow = allowed_methods(request) or (exc.headers or {}).get("Allow", "")
            headers = {**(exc.headers or {}), "Allow": allow}
            detail = f"{request.method} is not allowed on {request.url.path} (only {allow}); see /docs for the API."
        return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail, headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this class only
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, "Invalid request", f"{where}: {first.get('msg', 'invalid value')}.")

    async def client_gone(request: Request, exc: Exception) -> Response:
        # A worker preempted or killed mid-upload: normal, and its partial file is already discarded.
        logger.info(
            "The client went away before the end of its %s %s; nothing was kept", request.method, request.url.path
        )
        return problem(400, "Bad request", "The request's body ended before it was complete; nothing was kept.")

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("Unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "The service failed to handle this request; it has been logged.")

    app.add_exception_handler(errors.ServiceError, service_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, unexpected)
