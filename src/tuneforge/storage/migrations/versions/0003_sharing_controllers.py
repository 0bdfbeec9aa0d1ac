"""The controllers sharing a job, with their heartbeats, and the owner of each trial.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneforge.storage.migrations import set_schema_version

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_controllers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("start", sa.String(64)),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    op.create_index("ix_job_controllers_job", "job_controllers", ["job_id"])
    op.add_column("trials", sa.Column("owner", sa.String(64)))
    set_schema_version(3)


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("owner")
    op.drop_index("ix_job_controllers_job", "job_controllers")
    op.drop_table("job_controllers")
