"""hub_state.sellers_version: bumped by every write that changes a seller (auth caches drop stale tokens)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sellers_version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("hub_state", schema=None) as batch_op:
        batch_op.drop_column("sellers_version")
