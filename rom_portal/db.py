"""Database access: engines, SQLite pragmas, and the unit of work.

Database work is synchronous SQLAlchemy run in a bounded thread pool: the default of 40 threads gave long
write tails when measured. SQLite has one writer at a time, so writes are serialised in the event loop
(waiting writers hold no thread) and open with ``BEGIN IMMEDIATE`` so a transaction never has to upgrade
its lock half-way (which fails at once instead of waiting).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlmodel import Session

from rom_portal.settings import sqlite_path

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_WAIT_MS = 200  # how long a checkpoint waits for readers before it is left owed
# The pragmas every SQLite connection must have, and the value PRAGMA reports back for each.
SQLITE_PRAGMAS: dict[str, str] = {
    "journal_mode": "wal",
    "foreign_keys": "1",
    "secure_delete": "1",
    "synchronous": "2",  # FULL
    "busy_timeout": str(BUSY_TIMEOUT_MS),
}
_WRITE_OPTION = "rom_portal_write"


class DatabaseError(RuntimeError):
    """The database is unusable as configured; the message says why in one line."""


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit transactions are unreliable).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        for name, expected in SQLITE_PRAGMAS.items():
            actual = str(cursor.execute(f"PRAGMA {name}").fetchone()[0]).lower()
            if actual != expected:
                raise DatabaseError(f"SQLite refused PRAGMA {name}={expected} (it reports {actual})")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, pool_size: int = 8) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=2,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    # Tolerate one extra connection per pool for the CLI and health checks.
    return create_engine(url, pool_size=pool_size, max_overflow=2, pool_pre_ping=True)


class Database:
    """One engine plus the rules for running work on it.

    ``read`` and ``write`` run ``work(session, *args)`` in the bounded pool; ``write`` commits when the work
    returns and rolls back when it raises. Services never commit: this is the only unit of work.
    """

    def __init__(self, url: str, threads: int = 8) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        db_file = sqlite_path(url)
        on_disk = db_file is not None and db_file.name not in ("", ":memory:")
        self._process_lock_file = db_file.with_name(db_file.name + ".writelock") if on_disk and db_file else None
        # Present while a checkpoint that must empty the log (after an erasure) is still to be done.
        self._checkpoint_owed = db_file.with_name(db_file.name + ".checkpoint-owed") if on_disk and db_file else None
        self.engine = make_engine(url, pool_size=threads)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._limiter = anyio.CapacityLimiter(threads)
        self._write_lock: anyio.Lock | None = None

    @contextmanager
    def _between_processes(self, write: bool) -> Iterator[None]:
        """SQLite has one writer; several worker processes take turns through a lock file.

        Waiting for SQLite's own lock means sleeping in its busy handler (1, 2, 5 ... 100 ms between tries)
        long after the lock is free; the kernel wakes a process waiting on flock at once. A new open file per
        acquisition, because flock does not exclude threads sharing one open file.
        """
        if not write or self._process_lock_file is None:
            yield
            return
        with self._process_lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A synchronous unit of work, for the CLI and for code already running in a worker thread."""
        with (
            self._between_processes(write),
            Session(self._write_engine if write else self.engine, expire_on_commit=False) as session,
        ):
            try:
                yield session
                if write:
                    session.commit()
                # A read just closes: that ends the transaction and keeps loaded objects usable (a rollback
                # would expire them).
            except BaseException:
                session.rollback()
                raise

    def _run(self, write: bool, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self.session(write=write) as session:
            return work(session, *args, **kwargs)

    async def read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        job = partial(self._run, False, work, args, kwargs)
        return await anyio.to_thread.run_sync(job, limiter=self._limiter)

    async def lookup(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A small read by key on a hot path (the session, the form being filled in): like ``read``.

        On SQLite it runs on the calling thread: a reader in WAL mode never waits for a writer, and the hop to
        a worker thread and back cost more than such a query (measured in benchmarks/README.md). Anything that
        reads many rows uses ``read``, so the event loop is never held up for long.
        """
        if self.is_sqlite:
            return self._run(False, work, args, kwargs)
        return await self.read(work, *args, **kwargs)

    async def write(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        job = partial(self._run, True, work, args, kwargs)
        if not self.is_sqlite:
            return await anyio.to_thread.run_sync(job, limiter=self._limiter)
        return await self._as_the_writer(job)

    async def _as_the_writer(self, job: Callable[[], T]) -> T:
        """SQLite: run ``job`` in the pool while this process holds the one writer's turn.

        Afterwards, when a checkpoint is owed (see ``checkpoint``), it is tried again: a write is a moment
        when the readers that held the log open earlier have usually finished.
        """
        if self._write_lock is None:
            self._write_lock = anyio.Lock()
        async with self._write_lock:
            result = await anyio.to_thread.run_sync(job, limiter=self._limiter)
            if self._checkpoint_owed is not None and self._checkpoint_owed.exists():
                await anyio.to_thread.run_sync(self._settle_checkpoint, limiter=self._limiter)
            return result

    def _checkpoint_now(self) -> bool:
        """One try at ``wal_checkpoint(TRUNCATE)``, waiting at most CHECKPOINT_WAIT_MS for readers.

        Holds the writers' lock file, so no other process writes meanwhile; with the short wait it holds it
        briefly (the connection's usual busy timeout would keep every writer waiting for seconds).
        """
        with self._between_processes(True):
            # A raw connection: pysqlite runs in autocommit here (isolation_level None), and a checkpoint
            # cannot run inside a transaction.
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
                    busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    cursor.close()
            finally:
                connection.close()
        return busy == 0

    def _settle_checkpoint(self) -> bool:
        """Try an owed checkpoint; when it completes, it is owed no more."""
        done = self._checkpoint_now()
        if done and self._checkpoint_owed is not None:
            self._checkpoint_owed.unlink(missing_ok=True)
        return done

    def checkpoint_owed(self) -> bool:
        return self._checkpoint_owed is not None and self._checkpoint_owed.exists()

    async def checkpoint(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty it.

        For right after a write that deleted or overwrote something personal (an erasure, a changed address):
        with ``secure_delete`` the database file then holds no old copy, and the ``-wal`` file is empty. Reads
        still running (a download, say) can keep the log from being emptied; then the checkpoint is owed: a
        marker file beside the database says so (for every worker process), and it is tried again after each
        later write and when the portal starts, until it completes. False when it is owed. Nothing to do on
        PostgreSQL.
        """
        if not self.is_sqlite:
            return True
        if self._checkpoint_owed is not None:
            self._checkpoint_owed.touch()
        if self._write_lock is None:
            self._write_lock = anyio.Lock()
        async with self._write_lock:
            return await anyio.to_thread.run_sync(self._settle_checkpoint, limiter=self._limiter)

    def settle_owed_checkpoint(self) -> bool:
        """At start-up (synchronously): complete a checkpoint left owed; True when none is owed any more."""
        if not self.checkpoint_owed():
            return True
        return self._settle_checkpoint()

    def dispose(self) -> None:
        self.engine.dispose()
