"""Alembic environment: always driven by :mod:`schedy.server.store.migrate`."""

from alembic import context

from schedy.server.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
