"""Many sellers at once against a real uvicorn server: exact counts, and a feed reader that misses nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from hub.admin import HubAdmin
from hub.db import Database
from hub.models import Change, Seller, utcnow
from hub.publish import immediate_publisher
from hub.reports import Limits, store_reports
from hub.schemas import ReportIn
from hub.scoring import Ageing
from hub.sellers import create_seller
from tests.hub.support import ServedHub, report

SELLERS = 20
POOL = [f"p{i:02}" for i in range(60)]


def chosen(seller: int) -> list[str]:
    """A deterministic, overlapping subset of the pool for each seller."""
    return [m for i, m in enumerate(POOL) if (i * 7 + seller * 3) % 5 < 2 + seller % 2]


def pull(client: httpx.Client, headers: dict[str, str], state: dict[str, Any], cursor: int) -> int:
    while True:
        page = client.get("/v1/feed", params={"cursor": cursor, "limit": 7}, headers=headers).json()
        for change in page["changes"]:
            if change["deleted"]:
                state.pop(change["member_id"], None)
            else:
                state[change["member_id"]] = change["entry"]["reporters"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return cursor


def test_twenty_sellers_pushing_in_parallel_give_exact_counts(served_hub: ServedHub) -> None:
    with HubAdmin(served_hub.settings) as admin:
        tokens = [admin.add_seller(f"s{i}", f"S{i}")[1] for i in range(SELLERS + 1)]
    headers = [{"Authorization": f"Bearer {t}"} for t in tokens]
    errors: list[str] = []
    done = threading.Event()

    def seller(i: int) -> None:
        ids = chosen(i)
        with httpx.Client(base_url=served_hub.url, timeout=60) as client:
            for start in range(0, len(ids), 8):  # several upserts, then a snapshot that drops the first id
                batch = [report(m, reason="fraud") for m in ids[start : start + 8]]
                response = client.post("/v1/reports", json={"reports": batch}, headers=headers[i])
                if response.status_code != 200:
                    errors.append(response.text)
            final = [report(m, reason="chargeback") for m in ids[1:]]
            response = client.put("/v1/reports", json={"reports": final}, headers=headers[i])
            if response.status_code != 200 or response.json()["withdrawn"] != 1:
                errors.append(response.text)

    reader_state: dict[str, Any] = {}

    def reader() -> None:
        cursor = 0
        with httpx.Client(base_url=served_hub.url, timeout=60) as client:
            while not done.wait(0.02):  # poll like an agent would, only faster
                cursor = pull(client, headers[SELLERS], reader_state, cursor)
            pull(client, headers[SELLERS], reader_state, cursor)

    threads = [threading.Thread(target=seller, args=(i,)) for i in range(SELLERS)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()

    assert errors == []
    expected = {m: sum(m in chosen(i)[1:] for i in range(SELLERS)) for m in POOL}
    expected = {m: n for m, n in expected.items() if n}
    with httpx.Client(base_url=served_hub.url) as client:
        fresh: dict[str, Any] = {}
        pull(client, headers[SELLERS], fresh, 0)
        entry = client.get(f"/v1/entries/{POOL[3]}", headers=headers[0]).json()
    assert fresh == expected
    assert reader_state == expected  # the reader polling throughout missed no change
    assert entry["reasons"] == {"chargeback": expected[POOL[3]]}


def test_a_writer_waits_for_the_one_before_so_sequence_numbers_follow_commit_order(hub_url: str) -> None:
    """Writer A takes a sequence number and holds its transaction open; writer B comes meanwhile.

    B must wait for A's commit and number its change after A's: otherwise B could commit first, a reader
    could move past A's number, and A's change would never reach it.
    """
    db = Database(hub_url)
    db.publisher = immediate_publisher(utcnow, 1)  # each writer publishes in its own transaction
    now = utcnow()
    limits = Limits(Ageing(timedelta(days=180), timedelta(days=90)), 1000, 10000)
    with db.write() as session:
        ids = [create_seller(session, name, name, now)[0].id for name in ("a", "b")]
    a_holds, a_may_commit, b_done = threading.Event(), threading.Event(), threading.Event()

    def write(seller_id: int, member_id: str, hold: bool) -> None:
        with db.write() as session:
            seller = session.get_one(Seller, seller_id)
            store_reports(
                session, seller, [ReportIn(member_id=member_id, name="X")], now, limits, snapshot=False
            )
            if hold:
                a_holds.set()
                a_may_commit.wait(30)
        if not hold:
            b_done.set()

    writer_a = threading.Thread(target=write, args=(ids[0], "mA", True))
    writer_a.start()
    a_holds.wait(30)
    writer_b = threading.Thread(target=write, args=(ids[1], "mB", False))
    writer_b.start()
    finished_early = b_done.wait(0.5)  # B is blocked on A's lock (were it not, it would be done by now)
    a_may_commit.set()
    writer_a.join(30)
    writer_b.join(30)
    try:
        with db.read() as session:
            seqs = {row[0]: row[1] for row in session.execute(select(Change.member_id, Change.seq))}
    finally:
        db.dispose()
    assert not finished_early
    assert seqs["mA"] < seqs["mB"]
