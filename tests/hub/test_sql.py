"""The dialect-specific SQL of `hub.sql`: bulk upserts and "one of these values", on SQLite and PostgreSQL.

PostgreSQL sends an upsert's rows as one JSON document and a value list as one array: these tests check that
every kind of value the hub stores survives that trip unchanged, and that work split into several batches
finds and changes exactly what one statement would have.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hub import sql
from hub.db import Database
from hub.models import Change, Entry, Report, Seller
from hub.sql import batches, insert_rows, one_of, update_rows, upsert
from tests.hub.support import HubClient, report

NOW = datetime(2026, 11, 30, 23, 30, 15, 123456, tzinfo=UTC)
AWKWARD = [
    'O\'Brien "Bob" \\ back\\slash',
    "José García",  # composed
    "Jose\u0301 Garci\u0301a",  # decomposed: kept as spelled, never normalised on the way
    "李小龍 🐉",
    "{braces}, commas, NULL",
    "עברית",
]


@pytest.fixture
def db(hub_url: str) -> Database:
    database = Database(hub_url)
    yield database  # type: ignore[misc]
    database.dispose()


def _entry(member_id: str, name: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "member_id": member_id,
        "name": name,
        "reporters": 2,
        "weight": 1.5,
        "score": 75,
        "reasons": {"fraud": 1, "chargeback": 1},
        "first_reported_at": NOW - timedelta(days=3),
        "last_reported_at": None,
        "counted": True,
        "pending": True,
        "live": False,
        "delisted": False,
        "seq": 2**40,
        "next_review_at": NOW,
        "updated_at": NOW,
        "payload": None,
    }
    return row | values


def test_upsert_stores_every_kind_of_value_unchanged(db: Database) -> None:
    tokyo = timezone(timedelta(hours=9))
    rows = [
        _entry(f"m{i}", name, first_reported_at=(NOW - timedelta(days=i)).astimezone(tokyo))
        for i, name in enumerate(AWKWARD)
    ]
    with db.write() as session:
        upsert(session, Entry, ["member_id"], ["name"], rows)
    with db.read() as session:
        stored = {e.member_id: e for e in session.scalars(select(Entry))}
    assert len(stored) == len(AWKWARD)
    for i, name in enumerate(AWKWARD):
        entry = stored[f"m{i}"]
        assert entry.name == name
        assert entry.first_reported_at == NOW - timedelta(days=i)  # the same instant, whatever the offset
        assert entry.first_reported_at.tzinfo is not None
        assert entry.next_review_at == NOW
        assert entry.last_reported_at is None
        assert entry.reasons == {"fraud": 1, "chargeback": 1}
        assert (entry.reporters, entry.weight, entry.score, entry.seq) == (2, 1.5, 75, 2**40)
        assert (entry.counted, entry.pending, entry.live, entry.payload) == (True, True, False, None)


def test_upsert_updates_only_the_named_columns_of_existing_rows(db: Database) -> None:
    with db.write() as session:
        upsert(session, Entry, ["member_id"], ["name"], [_entry("m1", "Old"), _entry("m2", "Two")])
    changed = [_entry("m1", "New", score=10), _entry("m3", "Three", score=10)]
    with db.write() as session:
        upsert(session, Entry, ["member_id"], ["name"], changed)
        upsert(session, Entry, ["member_id"], ["name"], [])  # nothing to write is no statement at all
    with db.read() as session:
        stored = {e.member_id: (e.name, e.score) for e in session.scalars(select(Entry))}
    assert stored == {"m1": ("New", 75), "m2": ("Two", 75), "m3": ("Three", 10)}


def test_update_rows_sets_the_given_columns_of_the_given_rows_only(db: Database) -> None:
    with db.write() as session:
        upsert(
            session,
            Entry,
            ["member_id"],
            ["name"],
            [_entry(f"m{i}", f"n{i}", payload="{}") for i in range(4)],
        )
    with db.write() as session:
        update_rows(
            session,
            Entry,
            "member_id",
            [
                {"member_id": "m1", "live": True, "payload": AWKWARD[0], "seq": 7},
                {"member_id": "m2", "live": False, "payload": None, "seq": 8},
                {"member_id": "absent", "live": True, "payload": "x", "seq": 9},
            ],
        )
        update_rows(session, Entry, "member_id", [])
    with db.read() as session:
        stored = {e.member_id: (e.name, e.live, e.payload, e.seq) for e in session.scalars(select(Entry))}
    assert stored == {
        "m0": ("n0", False, "{}", 2**40),
        "m1": ("n1", True, AWKWARD[0], 7),
        "m2": ("n2", False, None, 8),
        "m3": ("n3", False, "{}", 2**40),
    }


def test_insert_rows_inserts_each_row(db: Database) -> None:
    paris = timezone(timedelta(hours=1))
    rows = [
        {
            "seq": n,
            "member_id": f"m{n}",
            "kind": "new",
            "changed_at": (NOW + timedelta(seconds=n)).astimezone(paris),
        }
        for n in range(1, 6)
    ]
    with db.write() as session:
        insert_rows(session, Change, rows)
        insert_rows(session, Change, [])
    with db.read() as session:
        stored = [
            (c.seq, c.member_id, c.changed_at) for c in session.scalars(select(Change).order_by(Change.seq))
        ]
    assert stored == [(n, f"m{n}", NOW + timedelta(seconds=n)) for n in range(1, 6)]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_one_of_in_batches_finds_exactly_the_values(
    db: Database, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(sql, "IN_LIST", size)
    monkeypatch.setattr(sql, "ARRAY_BATCH", size)
    with db.write() as session:
        upsert(session, Entry, ["member_id"], ["name"], [_entry(f"m{i}", f"n{i}") for i in range(10)])
    wanted = ["m1", "m2", "m3", "m5", "m8", "m9", "absent", "NULL", "{m1}", "m1,m2", '"m1"']
    found: list[str] = []
    with db.read() as session:
        parts = list(batches(session, wanted))
        for part in parts:
            found += session.scalars(select(Entry.member_id).where(one_of(session, Entry.member_id, part)))
    assert sorted(found) == ["m1", "m2", "m3", "m5", "m8", "m9"]
    assert len(parts) == -(-len(wanted) // size)


def test_snapshots_over_many_batches_change_exactly_their_reports(
    hub: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every multi-value statement of a push (plan, upsert, withdrawal, confirmation, entry recompute) split
    into batches of 3 gives what one statement gives."""
    monkeypatch.setattr(sql, "IN_LIST", 3)
    monkeypatch.setattr(sql, "ARRAY_BATCH", 3)
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(b, *(report(f"m{i}", name="Jane Roe") for i in range(0, 14, 2)))
    first = hub.push(a, *(report(f"m{i}", name=AWKWARD[i % len(AWKWARD)]) for i in range(10)), snapshot=True)
    assert first == {"created": 10, "updated": 0, "unchanged": 0, "withdrawn": 0}
    kept = [report(f"m{i}", name=AWKWARD[i % len(AWKWARD)]) for i in range(5)]
    second = hub.push(a, *kept, report("m5", reason="chargeback", name=AWKWARD[5]), snapshot=True)
    assert second == {"created": 0, "updated": 1, "unchanged": 5, "withdrawn": 4}
    with hub.context.db.read() as session:
        live = session.execute(
            select(Report.member_id, Report.name)
            .join(Seller, Seller.id == Report.seller_id)
            .where(Seller.name == "a", Report.withdrawn_at.is_(None))
        ).all()
        entries = {e.member_id: e for e in session.scalars(select(Entry))}
    assert sorted(live) == sorted((f"m{i}", AWKWARD[i % len(AWKWARD)]) for i in range(6))
    assert {m for m, e in entries.items() if e.counted} == {f"m{i}" for i in range(6)} | {
        "m6",
        "m8",
        "m10",
        "m12",
    }
    assert [entries[f"m{i}"].reporters for i in range(10)] == [2, 1, 2, 1, 2, 1, 1, 0, 1, 0]
    assert entries["m5"].reasons == {"chargeback": 1}
    assert hub.entry(a, "m3")["name"] == AWKWARD[3]
