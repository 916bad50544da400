"""[ext] ``tokens/`` and ``tokens/ID/``: the caller's API tokens (``schedy token list|revoke``).

A token's secret is shown once, when it is created (``resettoken/``,
``schedy user add``); the service keeps only its hash, and these routes
show neither.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from schedy.server.api import schemas
from schedy.server.api.deps import current_user, services
from schedy.server.dashboard.cookies import cookie_authorization
from schedy.server.errors import NotFound
from schedy.server.service.tokens import TokenInfo, Tokens
from schedy.server.wire import iso

router = APIRouter(tags=["authentication"])

TOKEN = {
    "type": "object",
    "required": ["id", "label", "createdAt", "revokedAt", "current"],
    "properties": {
        "id": {"type": "integer"},
        "label": {"type": ["string", "null"], "description": "what created it, e.g. resettoken"},
        "createdAt": {"type": "string", "format": "date-time"},
        "revokedAt": {"type": ["string", "null"], "format": "date-time"},
        "current": {"type": "boolean", "description": "the token this request's session was opened with"},
    },
}


def _tokens(request: Request) -> Tokens:
    # Tokens holds only the store: building it here keeps the app's shared
    # Services untouched and costs nothing.
    return Tokens(services(request).store)


def _render(token: TokenInfo, current: int | None) -> dict[str, object]:
    return {
        "id": token.id,
        "label": token.label,
        "createdAt": iso(token.created_at),
        "revokedAt": iso(token.revoked_at),
        "current": token.id == current,
    }


@router.get("/tokens/", responses=schemas.answers({200: schemas.json_answer(schemas.page_of(TOKEN), "your tokens")}))
async def list_tokens(request: Request, user_id: int = Depends(current_user)) -> JSONResponse:
    """List your API tokens, live and revoked, oldest first (one page: a user has few).

    ``current`` marks the token the request's session was opened with (none
    for a password session, e.g. the dashboard's): revoking it logs the
    caller out.
    """
    tokens = await run_in_threadpool(_tokens(request).owned_by, user_id)
    authorization = request.headers.get("authorization") or cookie_authorization(request)
    current = services(request).auth.session(authorization)[0].token_id  # checked by current_user already
    return JSONResponse({"items": [_render(t, current) for t in tokens], "next": None})


@router.delete("/tokens/{token_id}/", status_code=204, responses=schemas.answers({}, 404))
async def revoke_token(request: Request, token_id: str, user_id: int = Depends(current_user)) -> Response:
    """Revoke one of your API tokens; its sessions stop working within seconds (204 again if already revoked)."""
    # Ids are positive 32-bit integers (PostgreSQL's INTEGER); anything else names no token.
    if not (token_id.isascii() and token_id.isdigit() and 0 < int(token_id) < 2**31):
        raise NotFound(f"You have no API token with id {token_id!r}; `schedy token list` lists yours.")
    await run_in_threadpool(_tokens(request).revoke, user_id, int(token_id))
    return Response(status_code=204)
