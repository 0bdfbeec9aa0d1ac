"""The schema of a storage: created on first use, upgraded on open, refused when newer.

A database records its schema twice: Alembic's ``alembic_version`` table holds the
revision it is at (see :mod:`tuneforge.storage.migrations`), and ``meta.schema_version``
the same as a plain number, for any reader to show. Opening a storage:

* finds the database at :data:`SCHEMA_VERSION` (the usual case): nothing to do, and only
  reads, so a reader never waits for a running controller's write lock;
* finds it empty: creates the tables from the models and stamps it at the head revision;
* finds an older schema (a database from before Alembic has only ``meta.schema_version``:
  it is stamped at that revision first): runs the migrations up to the head;
* finds a newer or unknown schema: refuses with :class:`StorageError` saying to upgrade.

Creating and upgrading run inside the caller's write transaction (``BEGIN IMMEDIATE`` on
SQLite, which, like PostgreSQL, also rolls DDL back), so a failed upgrade leaves the
database as it was; on PostgreSQL an advisory lock keeps two processes from upgrading at
once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import select

from tuneforge.errors import StorageError
from tuneforge.storage.migrations import HEAD_REVISION, LOCATION, revision_of, version_of
from tuneforge.storage.models import Base, MetaRow

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["SCHEMA_VERSION", "bring_up_to_date", "is_current", "recorded_version"]

#: The schema version this tuneforge writes (and the newest it reads).
SCHEMA_VERSION = version_of(HEAD_REVISION) or 0
_VERSION_KEY = "schema_version"
_ALEMBIC_TABLE = "alembic_version"  # Alembic's default version table
_UPGRADE_LOCK = 0x7475_6E65  # PostgreSQL advisory lock id ("tune") held while upgrading


def recorded_version(connection: sa.Connection, shown: str) -> int | None:
    """``meta.schema_version`` (``None`` for a new database); refuses a newer one."""
    if not sa.inspect(connection).has_table(MetaRow.__tablename__):
        return None
    text = connection.scalar(select(MetaRow.value).where(MetaRow.key == _VERSION_KEY))
    if text is None:
        return None
    try:
        version = int(text)
    except ValueError:
        raise StorageError(
            f"the storage {shown} records an unreadable schema version {text!r}; "
            "is it a tuneforge database?"
        ) from None
    if version > SCHEMA_VERSION:
        raise _newer(shown, str(version))
    return version


def is_current(connection: sa.Connection, shown: str) -> bool:
    """Whether the database is at the head revision (reads only)."""
    recorded_version(connection, shown)
    return _revision(connection) == HEAD_REVISION


def bring_up_to_date(connection: sa.Connection, shown: str) -> None:
    """Create the schema in a new database, or upgrade an older one to the head revision.

    Runs on ``connection`` inside its open write transaction; the caller commits.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _UPGRADE_LOCK})
    version = recorded_version(connection, shown)
    revision = _revision(connection)
    if revision == HEAD_REVISION:
        return  # another process got here first
    # Alembic is imported only here, when a database changes: every tuneforge command
    # opens the storage, and importing it would add about 0.4 s to each.
    from alembic import command

    config = _config(connection)
    if revision is None:
        if version is None:
            _create(connection, shown, config)
            return
        # A database from before Alembic: its meta row says which revision it is at.
        command.stamp(config, revision_of(version))
    elif version_of(revision) is None or (version_of(revision) or 0) > SCHEMA_VERSION:
        raise _newer(shown, str(version_of(revision) or revision))
    command.upgrade(config, HEAD_REVISION)


def _create(connection: sa.Connection, shown: str, config: Config) -> None:
    inspector = sa.inspect(connection)
    if inspector.has_table("jobs"):
        raise StorageError(
            f"the storage {shown} has tuneforge's tables but no schema version; "
            "is it a tuneforge database?"
        )
    from alembic import command

    Base.metadata.create_all(connection)
    connection.execute(sa.insert(MetaRow).values(key=_VERSION_KEY, value=str(SCHEMA_VERSION)))
    command.stamp(config, HEAD_REVISION)


def _revision(connection: sa.Connection) -> str | None:
    """The revision in Alembic's ``alembic_version`` table (read without importing Alembic)."""
    if not sa.inspect(connection).has_table(_ALEMBIC_TABLE):
        return None
    revisions = connection.scalars(sa.text(f"SELECT version_num FROM {_ALEMBIC_TABLE}")).all()
    if len(revisions) > 1:
        raise StorageError(f"the storage has several schema revisions {sorted(revisions)!r}")
    return revisions[0] if revisions else None


def _config(connection: sa.Connection) -> Config:
    """Alembic's configuration for our migrations, on ``connection`` (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", LOCATION)
    config.attributes["connection"] = connection
    return config


def _newer(shown: str, found: str) -> StorageError:
    return StorageError(
        f"the storage {shown} was written by a newer tuneforge (schema version {found}; "
        f"this one reads up to version {SCHEMA_VERSION}); upgrade tuneforge to use it."
    )
