"""What routes share: the services of this process, the caller, path names."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from schedy.server.errors import BadRequest
from schedy.server.service.auth import Auth
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.settings import Settings
from schedy.server.store import Store
from schedy.server.wire import check_name

# Declared for the OpenAPI document; the header is read by current_user.
bearer_scheme = HTTPBearer(auto_error=False, description="A session token from token/ or passauth/.")


@dataclass(frozen=True)
class Services:
    """The use cases of one service process, built once by ``create_app``."""

    settings: Settings
    store: Store
    auth: Auth
    experiments: Experiments
    jobs: Jobs


def services(request: Request) -> Services:
    """The services of the app handling ``request``."""
    svc: Services = request.app.state.services
    return svc


async def current_user(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> int:
    """The id of the user whose session token the request carries (401 otherwise)."""
    auth = services(request).auth
    session, check = auth.session(request.headers.get("authorization"))
    if check:
        await run_in_threadpool(auth.check_live, session)
    return session.user_id


def path_name(raw: str, what: str) -> str:
    """Decode one percent-encoded path segment into a name."""
    try:
        name = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"The {what} name in the path is not percent-encoded UTF-8.") from None
    return check_name(name, what)
