"""Bulk writes and "this column is one of these values", for the thousands of rows one request can touch.

The ORM spells these portably but slowly: on PostgreSQL, every row or value becomes bound parameters that
SQLAlchemy processes and psycopg sends one by one. Here PostgreSQL gets one JSON document of rows
(`json_to_recordset`) or one array of values (`= ANY`); SQLite, whose driver binds in C, gets `executemany`
and `IN` lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    column,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.models import to_stored


def upsert(
    session: Session,
    model: Any,
    conflict: Sequence[str],
    update: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert `rows` (dicts with the same keys); where `conflict` columns collide, update the `update` ones.

    No two rows may share their `conflict` values (PostgreSQL refuses to update a row twice in one statement).
    """
    if not rows:
        return
    table = _table(model)
    if _dialect(session) == "postgresql":
        pg = postgresql.insert(table).from_select(list(rows[0]), _rows_table(table, rows))
        stmt = pg.on_conflict_do_update(
            index_elements=list(conflict), set_={c: pg.excluded[c] for c in update}
        )
        session.execute(stmt)
    else:
        lite = sqlite.insert(table)
        set_ = {c: lite.excluded[c] for c in update}
        session.execute(lite.on_conflict_do_update(index_elements=list(conflict), set_=set_), rows)


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys)."""
    if not rows:
        return
    table = _table(model)
    if _dialect(session) == "postgresql":
        session.execute(insert(table).from_select(list(rows[0]), _rows_table(table, rows)))
    else:
        session.execute(insert(table), rows)


def update_rows(session: Session, model: Any, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """For each of `rows` (dicts with the same keys), set the other columns of the row with its `key`."""
    if not rows:
        return
    table = _table(model)
    columns = [c for c in rows[0] if c != key]
    if _dialect(session) == "postgresql":
        given = _rows_table(table, rows).subquery()
        stmt = update(table).where(table.c[key] == given.c[key]).values({c: given.c[c] for c in columns})
        session.execute(stmt)
    else:
        stmt = update(table).where(table.c[key] == bindparam(f"row_{key}"))
        stmt = stmt.values({c: bindparam(f"row_{c}") for c in columns})
        session.execute(stmt, [{f"row_{c}": value for c, value in row.items()} for row in rows])


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"unsupported database dialect: {name}")
    return name


def _rows_table(table: Table, rows: Sequence[dict[str, Any]]) -> Select[Any]:
    """PostgreSQL: `rows` as a table of `table`'s column types, sent as one JSON document.

    Executed row by row, psycopg's binding cost ~25 µs a row (a quarter of a 5,000-report snapshot); sent as
    one array per column, psycopg escaped each text value in Python. `json_to_recordset` parses it in C.
    """
    document = literal(json.dumps(rows, default=_times_as_stored(), ensure_ascii=False), Text).cast(JSON)
    record = (
        func.json_to_recordset(document)
        .table_valued(*(column(c, table.c[c].type) for c in rows[0]))
        .render_derived(with_types=True)
    )
    return select(*record.c)


def _times_as_stored() -> Callable[[object], str]:
    """`_json_time`, remembering each answer: a batch's rows share most of their times (the request's
    `now`, whole days), and converting each one again was half the cost of encoding 5,000 entries."""
    converted: dict[object, str] = {}

    def convert(value: object) -> str:
        text = converted.get(value)
        if text is None:
            text = converted[value] = _json_time(value)
        return text

    return convert


def _json_time(value: object) -> str:
    """Times as the hub stores them (naive UTC, see `hub.models.UTCDateTime`), for `json_to_recordset`."""
    if isinstance(value, datetime):
        return to_stored(value).isoformat()
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
    size = ARRAY_BATCH if _dialect(session) == "postgresql" else IN_LIST
    for start in range(0, len(values), size):
        yield values[start : start + size]


def one_of(session: Session, attribute: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`attribute IN values`, spelt for this session's database (see `batches` for how many at a time)."""
    if _dialect(session) == "postgresql":
        array = literal(list(values), postgresql.ARRAY(attribute.type))
        return cast(ColumnElement[bool], attribute == any_(array))
    return cast(ColumnElement[bool], attribute.in_(values))
