"""The Schedy service: HTTP API, search algorithms, store.

Layers, one direction only: ``api`` (routes: parse, authenticate, map
errors) → ``service`` (use cases) → ``schedulers`` (pure) and ``store``
(SQL, transactions, migrations). Build the ASGI app with
:func:`schedy.server.api.app.create_app`.
"""
