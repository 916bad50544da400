"""``token/``, ``passauth/`` and ``resettoken/``."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from schedy.server.api import schemas
from schedy.server.api.deps import client_address, current_session, services
from schedy.server.errors import Invalid
from schedy.server.security import Session
from schedy.server.wire import parse_json

router = APIRouter(tags=["authentication"])


async def _credentials(request: Request) -> tuple[str, str]:
    obj: Any = parse_json(await request.body())
    if not isinstance(obj, dict) or not isinstance(obj.get("email"), str) or not isinstance(obj.get("token"), str):
        raise Invalid('Send {"email": "...", "token": "..."} with both values as strings.')
    return obj["email"], obj["token"]


@router.post("/token/", openapi_extra=schemas.body(schemas.CREDENTIALS), responses=schemas.SESSION_RESPONSES)
async def token(request: Request) -> JSONResponse:
    """Exchange an email and API token for a session token (JWT).

    Repeated failures for one email from one address are refused with 429
    and ``Retry-After`` for a while (login throttling).
    """
    email, api_token = await _credentials(request)
    svc = services(request)
    jwt, expires_at = await to_thread.run_sync(
        svc.auth.login_with_token, email, api_token, client_address(request), limiter=svc.logins.threads
    )
    return JSONResponse({"token": jwt, "expiresAt": expires_at})


@router.post("/passauth/", openapi_extra=schemas.body(schemas.CREDENTIALS), responses=schemas.SESSION_RESPONSES)
async def passauth(request: Request) -> JSONResponse:
    """Exchange an email and password for a session token (JWT).

    Repeated failures for one email from one address are refused with 429
    and ``Retry-After`` for a while (login throttling).
    """
    email, password = await _credentials(request)
    svc = services(request)
    jwt, expires_at = await to_thread.run_sync(
        svc.auth.login_with_password, email, password, client_address(request), limiter=svc.logins.threads
    )
    return JSONResponse({"token": jwt, "expiresAt": expires_at})


#: The label of a token whose request names none (the 0.1.0b6 client's ``resettoken/`` has no body).
DEFAULT_TOKEN_LABEL = "resettoken"  # noqa: S105 - a label, not a secret
#: The longest label a token may have (the column's width).
MAX_TOKEN_LABEL = 200


def _token_label(body: bytes) -> str:
    """The label a ``resettoken/`` body asks for: ``{"label": "laptop"}``, else :data:`DEFAULT_TOKEN_LABEL`."""
    obj: Any = parse_json(body) if body.strip() else None
    if obj is None or obj == {}:
        return DEFAULT_TOKEN_LABEL
    label = obj.get("label") if isinstance(obj, dict) else None
    if not isinstance(obj, dict) or obj.keys() - {"label"} or not isinstance(label, str):
        raise Invalid('Send no body, or {"label": "..."} naming where the new token will be used.')
    label = label.strip()
    if not label or len(label) > MAX_TOKEN_LABEL or any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        raise Invalid(f"A token's label is 1 to {MAX_TOKEN_LABEL} printable characters, e.g. the machine's name.")
    return label


@router.post(
    "/resettoken/",
    openapi_extra=schemas.body(
        {
            "type": "object",
            "properties": {"label": {"type": "string", "description": "where the token will be used"}},
            "additionalProperties": False,
        },
        required=False,
    ),
    responses=schemas.AUTHENTICATED_RESPONSES | schemas.problem_answers(400, 422),
)
async def resettoken(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
    """Create a new API token and answer a complete client configuration.

    The body may name the token, ``{"label": "laptop"}``, as ``schedy token
    list`` shows it (default ``resettoken``). Earlier tokens stay valid
    (workers on other machines keep running); revoke them with ``schedy
    token revoke``. Whatever this process's liveness cache says, the session
    must still be live in the database when the token is made (its user not
    removed, its password unchanged, its API token not revoked): 401 otherwise.
    """
    svc = services(request)
    label = _token_label(await request.body())
    email, api_token = await run_in_threadpool(svc.auth.new_api_token, session, label)
    root = svc.settings.public_url or str(request.base_url)
    return JSONResponse({"root": root, "email": email, "token": api_token, "token_type": "api_token"})
