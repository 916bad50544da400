"""``token/``, ``passauth/`` and ``resettoken/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from schedy.server.api import schemas
from schedy.server.api.deps import client_address, current_user, services
from schedy.server.errors import Invalid
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
    auth = services(request).auth
    jwt, expires_at = await run_in_threadpool(auth.login_with_token, email, api_token, client_address(request))
    return JSONResponse({"token": jwt, "expiresAt": expires_at})


@router.post("/passauth/", openapi_extra=schemas.body(schemas.CREDENTIALS), responses=schemas.SESSION_RESPONSES)
async def passauth(request: Request) -> JSONResponse:
    """Exchange an email and password for a session token (JWT).

    Repeated failures for one email from one address are refused with 429
    and ``Retry-After`` for a while (login throttling).
    """
    email, password = await _credentials(request)
    auth = services(request).auth
    jwt, expires_at = await run_in_threadpool(auth.login_with_password, email, password, client_address(request))
    return JSONResponse({"token": jwt, "expiresAt": expires_at})


@router.post("/resettoken/", responses=schemas.AUTHENTICATED_RESPONSES)
async def resettoken(request: Request, user_id: int = Depends(current_user)) -> JSONResponse:
    """Create a new API token and answer a complete client configuration.

    Earlier tokens stay valid (workers on other machines keep running);
    revoke them with ``schedy token revoke``.
    """
    svc = services(request)
    email, api_token = await run_in_threadpool(svc.auth.new_api_token, user_id, "resettoken")
    root = svc.settings.public_url or str(request.base_url)
    return JSONResponse({"root": root, "email": email, "token": api_token, "token_type": "api_token"})
