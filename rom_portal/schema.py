"""Schema migrations and the check that the database matches this version of the portal."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaState(enum.Enum):
    current = "current"
    empty = "empty"  # a new database: nothing created yet
    behind = "behind"  # an older schema: `rom-portal migrate` upgrades it
    unknown = "unknown"  # tables we did not create, or a revision this version does not know


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str

    @property
    def message(self) -> str:
        if self.state is SchemaState.current:
            return f"database schema is current (revision {self.head})"
        if self.state is SchemaState.empty:
            return "the database is empty: run `rom-portal migrate` to create the tables"
        if self.state is SchemaState.behind:
            return (
                f"the database schema is older ({self.current}) than this portal ({self.head}): "
                "run `rom-portal migrate`"
            )
        if self.current is None:
            return (
                "the database holds tables this portal did not create: "
                "point ROM_PORTAL_DATABASE_URL at its own database"
            )
        return (
            f"the database schema ({self.current}) is unknown to this version of the portal (newest {self.head}); "
            "upgrade the portal or restore a matching backup"
        )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def schema_status(engine: Engine) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names())
    if current is None:
        state = SchemaState.empty if not tables - {"alembic_version"} else SchemaState.unknown
    elif current == head:
        state = SchemaState.current
    elif current in {rev.revision for rev in script.walk_revisions()}:
        state = SchemaState.behind
    else:
        state = SchemaState.unknown
    return SchemaStatus(state, current, head)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade to ``revision`` in one transaction per migration run."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
