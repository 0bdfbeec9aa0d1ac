"""The trial a trial continues: a promotion that starts from an earlier trial's checkpoint.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneforge.storage.migrations import set_schema_version

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trials", sa.Column("continues", sa.Integer))
    set_schema_version(4)


def downgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("continues")
