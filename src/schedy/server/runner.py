"""Run the service: ``schedy server``."""

from __future__ import annotations

import logging

from schedy.server.api.app import create_app
from schedy.server.bootstrap import ensure_admin
from schedy.server.settings import Settings, default_client_config_path
from schedy.server.store import Store


def serve(settings: Settings, host: str, port: int, *, log_level: str = "info") -> None:
    """Migrate, create the first admin if needed, and serve until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = Store(settings.database_url, pool_size=settings.pool_size)
    app = create_app(settings, store=store)
    root = settings.public_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"  # noqa: S104
    first = ensure_admin(store, root, default_client_config_path())
    if first is not None:
        print(f"Created the first user, {first.email} (password: {first.password}).", flush=True)
        print(f"Log in to the dashboard at {root} with it, or change it: schedy user passwd {first.email}", flush=True)
        if first.config_path is not None:
            print(f"Wrote a client configuration to {first.config_path}: schedy.SchedyDB() now works here.", flush=True)
        else:
            print(f"API token of {first.email}: {first.api_token}", flush=True)
    print(f"Schedy is serving {settings.database_url.split('@')[-1]} at {root}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=5)
