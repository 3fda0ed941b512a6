"""entries.payload: the entry's API JSON, rendered when it changes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None).isoformat() + "Z"


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    entries = sa.table(
        "entries",
        sa.column("member_id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("reporters", sa.Integer()),
        sa.column("score", sa.Integer()),
        sa.column("reasons", sa.JSON()),
        sa.column("first_reported_at", sa.DateTime()),
        sa.column("last_reported_at", sa.DateTime()),
        sa.column("live", sa.Boolean()),
        sa.column("payload", sa.Text()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(entries).where(entries.c.live.is_(True))).all()
    for row in rows:
        payload = {
            "member_id": row.member_id,
            "name": row.name,
            "reporters": row.reporters,
            "score": row.score,
            "reasons": dict(sorted((row.reasons or {}).items())),
            "first_reported_at": _iso(row.first_reported_at),
            "last_reported_at": _iso(row.last_reported_at),
        }
        conn.execute(
            entries.update()
            .where(entries.c.member_id == row.member_id)
            .values(payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        )


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("payload")
