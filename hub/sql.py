"""Dialect-specific SQL the ORM does not spell portably: bulk `INSERT ... ON CONFLICT DO UPDATE`, and
"this column is one of these values" for thousands of values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, ColumnElement, Table, Text, any_, column, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(
    session: Session,
    model: Any,
    conflict: Sequence[str],
    update: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert `rows` (dicts with the same keys); where `conflict` columns collide, update the `update` ones.

    No two rows may share their `conflict` values (PostgreSQL refuses to update a row twice in one statement).

    SQLite: one statement, executed for each row. PostgreSQL: one statement for the whole batch, the rows
    sent as one JSON document and unpacked by `json_to_recordset` (executed row by row, psycopg's binding
    cost ~25 µs a row, a quarter of a 5,000-report snapshot; as arrays, psycopg escaped each text value in
    Python).
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    if name == "postgresql":
        columns = list(rows[0])
        record = (
            func.json_to_recordset(
                literal(json.dumps(rows, default=_json_time, ensure_ascii=False), Text).cast(JSON)
            )
            .table_valued(*(column(c, table.c[c].type) for c in columns))
            .render_derived(with_types=True)
        )
        pg = postgresql.insert(table).from_select(columns, select(*record.c))
        session.execute(
            pg.on_conflict_do_update(index_elements=list(conflict), set_={c: pg.excluded[c] for c in update})
        )
    elif name == "sqlite":
        lite = sqlite.insert(table)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=list(conflict), set_={c: lite.excluded[c] for c in update}
            ),
            rows,
        )
    else:
        raise NotImplementedError(f"unsupported database dialect: {name}")


def _json_time(value: object) -> str:
    """Times as the hub stores them (naive UTC, see `hub.models.UTCDateTime`), for `json_to_recordset`."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


# "Column is one of these values", for the thousands of member ids one snapshot touches. SQLite gets an
# `IN (?, ?, ...)` list of at most `IN_LIST` values (its limit is 32,766 bound parameters, 999 before 3.32).
# PostgreSQL gets one array parameter, `= ANY(%s::VARCHAR[])`, of up to `ARRAY_BATCH` values: with an `IN`
# list of 500 parameters, SQLAlchemy rendered and psycopg re-parsed each statement (too long for psycopg's
# query cache), a third of the hub's CPU for a 5,000-report snapshot.
IN_LIST = 500
ARRAY_BATCH = 5_000


def batches(session: Session, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`values` in slices that `one_of` takes at once on this session's database."""
    size = ARRAY_BATCH if session.get_bind().dialect.name == "postgresql" else IN_LIST
    for start in range(0, len(values), size):
        yield values[start : start + size]


def one_of(session: Session, attribute: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`attribute IN values`, spelt for this session's database (see `batches` for how many at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        array = literal(list(values), postgresql.ARRAY(attribute.type))
        return cast(ColumnElement[bool], attribute == any_(array))
    return cast(ColumnElement[bool], attribute.in_(values))
