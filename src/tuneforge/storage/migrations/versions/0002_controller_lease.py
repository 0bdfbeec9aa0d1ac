"""The lease of the controller running a job, its time spent, and a trial's attempt.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneforge.storage.migrations import set_schema_version

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("controller_id", sa.String(64)))
    op.add_column("jobs", sa.Column("controller_host", sa.String(255)))
    op.add_column("jobs", sa.Column("controller_pid", sa.Integer))
    op.add_column("jobs", sa.Column("controller_start", sa.String(64)))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.Float))
    op.add_column(
        "jobs",
        sa.Column("active_seconds", sa.Float, nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "trials", sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1"))
    )
    set_schema_version(2)


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("attempt")
    with op.batch_alter_table("jobs") as jobs:
        for column in (
            "active_seconds",
            "heartbeat_at",
            "controller_start",
            "controller_pid",
            "controller_host",
            "controller_id",
        ):
            jobs.drop_column(column)
