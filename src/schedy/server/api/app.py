"""Build the ASGI application of one service process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from schedy.server.api import (
    artifacts_routes,
    attempts_routes,
    auth_routes,
    docs,
    experiments_routes,
    jobs_routes,
    problems,
    reports_routes,
    tokens_routes,
)
from schedy.server.api.deps import Services
from schedy.server.api.hotpath import HotPaths
from schedy.server.api.middleware import BodyLimit, DatabaseTrouble, RawPathRouting, SecurityHeaders, trouble_answer
from schedy.server.dashboard import routes as dashboard
from schedy.server.errors import StorageUnavailable
from schedy.server.security import new_jwt_secret
from schedy.server.service.artifacts import Artifacts
from schedy.server.service.auth import Auth
from schedy.server.service.blobs import BlobStore, blob_store
from schedy.server.service.claims import Claims
from schedy.server.service.experiments import Experiments
from schedy.server.service.jobs import Jobs
from schedy.server.service.leases import Leases
from schedy.server.service.reports import Reports
from schedy.server.settings import Settings, data_dir
from schedy.server.store import Store, installation, migrate

logger = logging.getLogger("schedy.server")

API_DESCRIPTION = """\
Schedy's wire protocol: experiments, jobs, and `nextjob`, the atomic step
that hands every worker its next job. Names in paths are percent-encoded
with no safe characters. Authenticate with `token/` (email + API token) or
`passauth/` (email + password) and send `Authorization: Bearer <token>`.
"""


#: A background step that keeps failing is logged (with its traceback) at most once per this many seconds.
SWEEP_LOG_EVERY = 60.0
#: When each background step's failure was last logged in this process (monotonic seconds), and how many since.
_SWEEP_LOGGED_AT: dict[str, float] = {}
_SWEEP_UNSAID: dict[str, int] = {}


def _sweep_failed(what: str, exc: Exception) -> None:
    """Log a background step's failure: a database trouble as its line a minute, anything else at most once a minute.

    The sweeps run every second: a failure that lasts (a read-only database, a bug met by one row)
    must not write a traceback a second to a log that may share the database's disk.
    """
    if isinstance(exc, StorageUnavailable) or trouble_answer(exc) is not None:
        return  # the artifact store's failure, a database trouble: each logged as a line a minute
    now = time.monotonic()
    if now - _SWEEP_LOGGED_AT.get(what, -SWEEP_LOG_EVERY) < SWEEP_LOG_EVERY:
        _SWEEP_UNSAID[what] = _SWEEP_UNSAID.get(what, 0) + 1
        return
    _SWEEP_LOGGED_AT[what] = now
    unsaid = _SWEEP_UNSAID.pop(what, 0)
    since = f" ({unsaid} more times since the last such line)" if unsaid else ""
    logger.error("%s failed%s; it is tried again every sweep, and logged once a minute", what, since, exc_info=exc)


async def _sweep_forever(leases: Leases, claims: Claims, artifacts: Artifacts, interval: float) -> None:
    """End lapsed leases, searches that are over (:meth:`Claims.settle`), detached artifacts: every ``interval`` s."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(leases.sweep)
        except Exception as exc:  # a failed sweep is retried at the next tick
            _sweep_failed("The lease sweep", exc)
        try:
            await run_in_threadpool(claims.settle)
        except Exception as exc:
            _sweep_failed("Ending the searches that are over", exc)
        try:
            await run_in_threadpool(artifacts.collect)
        except Exception as exc:
            _sweep_failed("Deleting detached artifacts", exc)


async def _finish_deletes(experiments: Experiments) -> None:
    try:
        finished = await run_in_threadpool(experiments.finish_deletes)
    except Exception:
        logger.exception("Finishing the deletes of experiments left half-way failed")
        return
    if finished:
        logger.info("Finished deleting %d experiment(s) a stopped service had left half-way.", finished)


def _version() -> str:
    try:
        return metadata.version("schedy")
    except metadata.PackageNotFoundError:
        return "unknown"


def create_app(settings: Settings, *, store: Store | None = None, blobs: BlobStore | None = None) -> FastAPI:
    """Create the service: migrate the database, load the signing secret, wire the routes.

    ``store`` and ``blobs`` default to those of ``settings`` (the artifact store is checked first:
    :class:`~schedy.server.service.blobs.ArtifactsUnavailable` if it cannot be used).

    Example:
        >>> app = create_app(Settings(database_url="sqlite:////tmp/schedy-doc.db"))  # doctest: +SKIP
        >>> import uvicorn; uvicorn.run(app, port=8700)  # doctest: +SKIP

    """
    blobs = blobs or blob_store(settings.artifacts_url, data_dir())  # before the database: a bad store changes nothing
    store = store or Store(settings.database_url, pool_size=settings.pool_size)
    migrate.upgrade(store)
    with store.write() as conn:
        secret = installation.get_or_create(conn, "jwt_secret", new_jwt_secret)

    leases = Leases(store)
    leases.configure(settings.lease_grace)
    blobs.clean()
    artifacts = Artifacts(store, blobs, max_bytes=settings.max_artifact_bytes, quota=settings.artifact_quota_bytes)
    artifacts.start()  # this process's store is the database's, or a WARNING says it is not

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = None
        if settings.lease_sweep_interval > 0:
            claims = app.state.services.claims
            sweeper = asyncio.create_task(_sweep_forever(leases, claims, artifacts, settings.lease_sweep_interval))
        # Deletes a stopped service left half-way are finished in the background.
        finishing = asyncio.create_task(_finish_deletes(app.state.services.experiments))
        yield
        finishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await finishing
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        await store.aclose()  # PostgreSQL: the event loop's connections (store/aio.py)

    app = FastAPI(
        lifespan=lifespan,
        title="Schedy",
        version=_version(),
        description=API_DESCRIPTION,
        redirect_slashes=True,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services(
        settings=settings,
        store=store,
        auth=Auth(store, secret, settings.jwt_ttl),
        experiments=Experiments(store),
        jobs=Jobs(store),
        claims=Claims(store),
        reports=Reports(store),
        artifacts=artifacts,
    )
    problems.install(app)
    docs.install(app)
    app.include_router(auth_routes.router)
    app.include_router(experiments_routes.router)
    app.include_router(jobs_routes.router)
    app.include_router(reports_routes.router)
    app.include_router(artifacts_routes.router)
    app.include_router(attempts_routes.router)
    app.include_router(tokens_routes.router)
    dashboard.install(app)

    @app.get("/ping/", tags=["service"])
    async def ping() -> Response:
        """A trivial answer: liveness probe, and the floor the benchmarks compare against."""
        return Response(b'{"ok":true}', media_type="application/json")

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RawPathRouting)
    app.add_middleware(SecurityHeaders)
    # The database's troubles (a full disk, a restart, a lost connection), wherever they are met, answer
    # 503 or 502 with what to do, not 500 (the fast path answers its own the same way).
    app.add_middleware(DatabaseTrouble)
    # Outermost: the worker loop's two requests skip the rest (see hotpath.py).
    app.add_middleware(HotPaths, max_body_bytes=settings.max_body_bytes)
    return app
