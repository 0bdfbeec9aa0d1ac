"""Opening a storage URL: SQLAlchemy engines for SQLite and PostgreSQL, short transactions.

:class:`Database` is what a storage stands on: the engines for one URL and :meth:`Database.run`,
which runs one piece of work in one short transaction and retries it when the database
is locked. Everything above it (:mod:`tuneforge.storage.session` and the ``Storage``
facade) only says what a transaction does.

* On SQLite every write transaction starts with ``BEGIN IMMEDIATE``, so writers queue for
  the lock instead of deadlocking when a read lock would be upgraded; every connection
  waits up to :data:`BUSY_TIMEOUT_S` for a lock, and the file runs in WAL mode, so
  readers never block writers. ``sqlite://`` is one in-memory database shared by the
  threads of the process, which take turns on its one connection.
* On PostgreSQL a read that takes several queries runs at REPEATABLE READ, so it sees one
  snapshot as SQLite's transactions do.
* A write that still finds ``database is locked`` is retried a few times, then reported;
  every SQLAlchemy error becomes a ``StorageError`` naming what was being done.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from tuneforge.errors import StorageError

__all__ = ["ATTEMPTS", "BUSY_TIMEOUT_S", "Database", "default_storage_url"]

T = TypeVar("T")

#: How long an SQLite connection waits for a lock before the write is tried again.
BUSY_TIMEOUT_S = 30.0
#: A write that finds the database locked is tried this many times in all.
ATTEMPTS = 4


def default_storage_url() -> str:
    """``$TUNEFORGE_STORAGE`` if set, else ``tuneforge.db`` in the current folder (absolute)."""
    url = os.environ.get("TUNEFORGE_STORAGE", "").strip()
    if url:
        return url
    return f"sqlite:///{Path.cwd().resolve() / 'tuneforge.db'}"


class Database:
    """The engines of one storage URL, and transactions on them (see the module docstring).

    ``shown`` is the URL with its password hidden, for messages. One ``Database`` may be
    shared by the threads of a process.
    """

    def __init__(self, url: str) -> None:
        parsed = _parse_url(url)
        self.shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        is_sqlite = parsed.get_backend_name() == "sqlite"
        is_memory = is_sqlite and _is_memory_sqlite(parsed)
        self.engine = _make_engine(parsed, self.shown, memory=is_memory)
        # Write transactions on SQLite take the write lock up front (see module docstring).
        self._writer = (
            self.engine.execution_options(tuneforge_begin="IMMEDIATE") if is_sqlite else self.engine
        )
        # A read that takes several queries must see one snapshot: SQLite's transactions
        # do; PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement.
        self._reader = (
            self.engine
            if is_sqlite
            else self.engine.execution_options(isolation_level="REPEATABLE READ")
        )
        # An in-memory database is one connection, so its users must take turns.
        self._turns: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if is_memory else contextlib.nullcontext()
        )

    def run(
        self,
        operation: str,
        work: Callable[[Session], T],
        *,
        write: bool = False,
        retry_on: tuple[type[SQLAlchemyError], ...] = (),
    ) -> T:
        """Run ``work`` in one short transaction, retrying a locked database a few times.

        ``work`` may run more than once, so it must only touch the database. SQLAlchemy
        errors become ``StorageError`` naming ``operation`` (those in ``retry_on`` after
        the last try); tuneforge errors raised by ``work`` (``NotFoundError``...) pass
        through unchanged.
        """
        engine = self._writer if write else self._reader
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with (
                    self._turns,
                    Session(engine, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    return work(session)
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise StorageError(
                        f"could not {operation} in {self.shown}: {_reason(exc)}"
                    ) from exc
                if attempt == ATTEMPTS:
                    raise StorageError(
                        f"could not {operation}: the storage {self.shown} stayed locked by "
                        f"another process ({ATTEMPTS} tries of up to {BUSY_TIMEOUT_S:g} s "
                        "each); is a long transaction or a stuck tuneforge holding it?"
                    ) from exc
            except retry_on as exc:
                if attempt == ATTEMPTS:
                    raise StorageError(
                        f"could not {operation} in {self.shown}: {_reason(exc)}"
                    ) from exc
            except SQLAlchemyError as exc:
                raise StorageError(
                    f"could not {operation} in {self.shown}: {_reason(exc)}"
                ) from exc
            # Back off with jitter so that retrying writers do not collide again in step.
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        """Release every connection (an in-memory database is gone after this)."""
        self.engine.dispose()


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            f"cannot read the storage URL {url!r}; expected e.g. 'sqlite:///path/to/tuneforge.db' "
            "or 'postgresql+psycopg://user:password@host/database'."
        ) from exc
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _make_engine(url: URL, shown: str, *, memory: bool) -> Engine:
    try:
        if url.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        if memory:
            engine = sa.create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            folder = Path(url.database or "").expanduser().absolute().parent
            if not folder.is_dir():
                raise StorageError(
                    f"cannot open the storage {shown}: the folder {folder} does not exist; "
                    "create it first, or choose another path."
                )
            engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageError(
            f"cannot open the storage {shown}: its database driver is not installed "
            f"({exc}); for PostgreSQL install psycopg: pip install 'psycopg[binary]'."
        ) from exc
    except ArgumentError as exc:
        raise StorageError(f"cannot open the storage {shown}: {exc}") from exc
    _configure_sqlite(engine, wal=not memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """Set the pragmas on every connection and take transaction control from pysqlite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite otherwise emits its own BEGIN (never IMMEDIATE) and commits around DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, much faster
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("tuneforge_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and help link."""
    origin = getattr(exc, "orig", None)
    return str(origin if origin is not None else exc).strip().splitlines()[0]
