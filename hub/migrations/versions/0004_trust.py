"""Issue 8 (trust): publication in batches, weight, lookups, the private record, daily usage

- `entries.weight`, `entries.counted` (at least one counting report: what `GET /v1/lookup` serves) and
  `entries.pending` (the entry changed since it was last published; `hub.publish` publishes it).
  `live` and `payload` now describe the entry as last published in the feed.
- `seller_records`: per seller, private: what its agent added automatically (`auto`) and its allowlist.
- `seller_usage`: per seller and UTC day, the daily budget used (new, re-filed and re-reasoned reports).
- Existing live entries are marked due for review, so the hub recomputes them under the new rules
  (coarse dates, majority name, publication threshold) on its first sweep.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_EPOCH = datetime(2000, 1, 1)  # "due for review": the first sweep recomputes these entries


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_entries_pending", ["pending"])
    entries = sa.table(
        "entries",
        sa.column("live", sa.Boolean()),
        sa.column("counted", sa.Boolean()),
        sa.column("reporters", sa.Integer()),
        sa.column("weight", sa.Float()),
        sa.column("next_review_at", sa.DateTime()),
    )
    op.execute(
        entries.update()
        .where(entries.c.live.is_(True))
        .values(counted=True, weight=entries.c.reporters, next_review_at=sa.literal(_EPOCH, sa.DateTime()))
    )
    op.create_table(
        "seller_records",
        sa.Column("seller_id", sa.Integer(), sa.ForeignKey("sellers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seller_id", "list", "member_id", name="pk_seller_records"),
    )
    op.create_table(
        "seller_usage",
        sa.Column("seller_id", sa.Integer(), sa.ForeignKey("sellers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("new_reports", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("seller_id", "day", name="pk_seller_usage"),
    )


def downgrade() -> None:
    op.drop_table("seller_usage")
    op.drop_table("seller_records")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_pending")
        batch_op.drop_column("pending")
        batch_op.drop_column("counted")
        batch_op.drop_column("weight")

