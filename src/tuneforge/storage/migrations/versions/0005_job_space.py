"""The job's resolved search space, stored as its own record next to the job document.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneforge.storage.migrations import set_schema_version

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs stored before have no space of their own: NULL, read back as None.
    op.add_column("jobs", sa.Column("space", sa.JSON(none_as_null=True)))
    set_schema_version(5)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("space")
