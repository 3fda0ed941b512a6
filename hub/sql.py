"""Dialect-specific SQL the ORM does not spell portably: bulk `INSERT ... ON CONFLICT DO UPDATE`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def upsert(session: Session, model: Any, conflict: Sequence[str], update: Sequence[str]) -> Insert:
    """An insert that updates `update` columns from the new row when `conflict` columns collide.

    Execute it with a list of parameter dicts (executemany): one statement for the whole batch.
    """
    table = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    if name == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=list(conflict), set_={c: pg.excluded[c] for c in update}
        )
    if name == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=list(conflict), set_={c: lite.excluded[c] for c in update}
        )
    raise NotImplementedError(f"unsupported database dialect: {name}")
