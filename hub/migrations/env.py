"""Alembic environment: always run with a connection handed in by `hub.db.migrate`."""

from __future__ import annotations

from alembic import context

from hub.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `blacklist-hub migrate` (hub.db.migrate)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
