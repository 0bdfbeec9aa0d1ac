"""Alembic's entry point for tuneforge's migrations: runs them on the caller's connection.

tuneforge runs its migrations itself, on the connection (and inside the transaction) of the
storage being opened (:mod:`tuneforge.storage.schema`), so there is no ``alembic.ini`` and
no URL here: the connection comes in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from tuneforge.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
