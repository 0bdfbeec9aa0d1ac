"""The storage's schema history as Alembic revisions, shipped inside the package.

Revision ``000N`` is schema version N, the number ``meta.schema_version`` records for any
reader to show: 0001 the first schema, 0002 the controller lease and trial attempts, 0003
the controllers sharing a job (with their heartbeats) and the owner of each trial, 0004
the trial a trial continues (a Hyperband promotion that starts from a checkpoint), 0005
the job's resolved search space.
:mod:`tuneforge.storage.schema` runs them programmatically on the storage's own connection.

To change the schema: change ``models.py``, add ``versions/000<N+1>_<what>.py`` (copy the
last one: ``revision``, ``down_revision``, ``upgrade()`` ending with
``set_schema_version(N+1)``), and set :data:`HEAD_REVISION`. The tests check that the
models and the head revision agree and that every earlier schema upgrades to it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

__all__ = ["HEAD_REVISION", "LOCATION", "revision_of", "set_schema_version", "version_of"]

#: The newest revision: what a database created by this tuneforge is stamped with.
HEAD_REVISION = "0005"
#: The folder holding ``env.py`` and ``versions/`` (Alembic's ``script_location``).
LOCATION = str(Path(__file__).resolve().parent)


def revision_of(version: int) -> str:
    """The revision id of schema ``version`` (``2`` -> ``"0002"``)."""
    return f"{version:04d}"


def version_of(revision: str) -> int | None:
    """The schema version a revision id stands for; ``None`` for an id not of this form."""
    return int(revision) if revision.isdigit() else None


def set_schema_version(version: int) -> None:
    """Record ``version`` in the ``meta`` table (inside a migration's ``upgrade``)."""
    from alembic import op  # only while migrating: importing alembic costs CLI start time

    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(
        meta.update()
        .where(meta.c.key == op.inline_literal("schema_version"))
        .values(value=op.inline_literal(str(version)))
    )
