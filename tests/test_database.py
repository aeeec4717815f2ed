"""SQLite pragmas, migrations on both databases, and the refusal to start on a schema we do not know."""

from __future__ import annotations

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select
from starlette.testclient import TestClient

from rom_portal.app import SchemaError, create_app
from rom_portal.db import SQLITE_PRAGMAS, Database
from rom_portal.models import PortalMeta
from rom_portal.schema import SchemaState, downgrade, head_revision, migrate, schema_status
from tests.conftest import BASE_URL, make_settings


def test_sqlite_connection_has_the_required_pragmas(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/pragmas.db")
    try:
        with database.engine.connect() as connection:
            values = {
                name: str(connection.exec_driver_sql(f"PRAGMA {name}").scalar()).lower() for name in SQLITE_PRAGMAS
            }
    finally:
        database.dispose()
    assert values == {
        "journal_mode": "wal",
        "foreign_keys": "1",
        "secure_delete": "1",
        "synchronous": "2",
        "busy_timeout": "10000",
    }


def test_migrations_create_every_table_from_empty(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert schema_status(database.engine).state is SchemaState.empty
        migrate(database.engine)
        status = schema_status(database.engine)
        assert status.state is SchemaState.current
        assert status.current == head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
    finally:
        database.dispose()


def test_models_and_migrations_agree(migrated_url: str) -> None:
    """A model change without a migration would make this list non-empty."""
    database = Database(migrated_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        database.dispose()
    assert differences == []


def test_downgrade_to_nothing_and_upgrade_again(migrated_url: str) -> None:
    database = Database(migrated_url)
    try:
        downgrade(database.engine, "base")
        assert schema_status(database.engine).state is SchemaState.empty
        migrate(database.engine)
        assert schema_status(database.engine).state is SchemaState.current
    finally:
        database.dispose()


def test_app_refuses_to_start_on_an_empty_database(database_url: str) -> None:
    app = create_app(make_settings(database_url))
    with pytest.raises(SchemaError, match="rom-portal migrate"), TestClient(app, base_url=BASE_URL):
        pass
    app.state.db.dispose()


def test_app_refuses_to_start_on_an_unknown_schema(migrated_url: str) -> None:
    database = Database(migrated_url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'fffffffffff'"))
    database.dispose()
    app = create_app(make_settings(migrated_url))
    with pytest.raises(SchemaError, match="unknown to this version"), TestClient(app, base_url=BASE_URL):
        pass
    app.state.db.dispose()


def test_foreign_tables_are_not_mistaken_for_an_empty_database(database_url: str) -> None:
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            connection.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
        status = schema_status(database.engine)
        assert status.state is SchemaState.unknown
        assert "did not create" in status.message
    finally:
        database.dispose()


def test_concurrent_writes_all_land(migrated_url: str) -> None:
    """Many writers at once: SQLite serialises them, PostgreSQL runs them side by side; none is lost."""
    database = Database(migrated_url, threads=4)

    def insert(session: Session, number: int) -> None:
        session.add(PortalMeta(key=f"k{number}", value=str(number)))

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(60):
                group.start_soon(database.write, insert, number)

    try:
        anyio.run(main)
        with database.session() as session:
            keys = set(session.exec(select(PortalMeta.key)).all())
    finally:
        database.dispose()
    assert keys == {f"k{n}" for n in range(60)}


def test_failed_work_is_rolled_back(migrated_url: str) -> None:
    database = Database(migrated_url)

    def insert_then_fail(session: Session) -> None:
        session.add(PortalMeta(key="half", value="done"))
        session.flush()
        raise ValueError("stop")

    try:
        with pytest.raises(ValueError):
            anyio.run(database.write, insert_then_fail)
        with database.session() as session:
            assert session.get(PortalMeta, "half") is None
    finally:
        database.dispose()


def test_sqlite_writers_take_turns_through_a_lock_file(tmp_path: object) -> None:
    """Worker processes queue on flock (woken at once) instead of sleeping in SQLite's busy handler."""
    import fcntl
    from pathlib import Path

    database = Database(f"sqlite:///{tmp_path}/turns.db")
    migrate(database.engine)
    lock_file = Path(f"{tmp_path}/turns.db.writelock")
    try:
        with database.session(write=True) as session, lock_file.open("a") as other:
            session.add(PortalMeta(key="k", value="v"))
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with lock_file.open("a") as other:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once the write is committed
        with database.session() as session, lock_file.open("a") as other:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # reads never take it
            assert session.get(PortalMeta, "k") is not None
    finally:
        database.dispose()


def test_a_checkpoint_kept_from_completing_by_a_reader_is_owed_and_done_after_the_next_write(
    tmp_path: object,
) -> None:
    """An erasure's checkpoint never holds up the writers for long, and never leaves deleted bytes behind."""
    import sqlite3
    import time
    from pathlib import Path

    db_file = Path(f"{tmp_path}/owed.db")
    database = Database(f"sqlite:///{db_file}")
    migrate(database.engine)
    marker = "MARKER-owed-checkpoint-4711"

    def files() -> bytes:
        return b"".join(p.read_bytes() for p in db_file.parent.glob("owed.db*") if p.suffix != ".writelock")

    def put(session: Session, key: str, value: str) -> None:
        session.add(PortalMeta(key=key, value=value))

    def remove(session: Session, key: str) -> None:
        session.delete(session.get(PortalMeta, key))

    try:
        anyio.run(database.write, put, "secret", marker)
        anyio.run(database.write, remove, "secret")
        reader = sqlite3.connect(db_file)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM portal_meta").fetchone()  # a snapshot, as a long download holds
        started = time.monotonic()
        assert anyio.run(database.checkpoint) is False
        assert time.monotonic() - started < 2  # not the 10 s busy timeout
        assert database.checkpoint_owed() and marker.encode() in files()  # the test can fail
        anyio.run(database.write, put, "other", "x")  # the reader is still there: still owed
        assert database.checkpoint_owed()
        reader.rollback()
        reader.close()
        anyio.run(database.write, put, "later", "y")  # any later write completes it
        assert not database.checkpoint_owed()
        assert marker.encode() not in files()
        assert Path(f"{db_file}-wal").stat().st_size == 0
    finally:
        database.dispose()
