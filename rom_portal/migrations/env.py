"""Alembic environment: the connection is always handed in by rom_portal.schema (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import rom_portal.models  # noqa: F401  (registers every table on the metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
