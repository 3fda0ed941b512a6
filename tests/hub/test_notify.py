"""The hub's counters as each process sees them: what moves them, and how a process hears of it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import update

from hub.admin import HubAdmin
from hub.db import Database, HubCounters
from hub.models import HubState
from hub.notify import FeedNotifier
from tests.hub.support import HubClient, report


def test_a_report_moves_the_feed_and_a_seller_change_the_sellers_version(hub: HubClient) -> None:
    db = hub.context.db
    a = hub.add_seller("a")
    start = db.counters()
    hub.push(a, report("m1"))
    after_report = db.counters()
    with HubAdmin(hub.settings) as admin:
        admin.rotate_token("a")
    after_rotation = db.counters()
    assert after_report.last_seq > start.last_seq
    assert after_report.sellers_version == start.sellers_version
    assert after_rotation.sellers_version == after_report.sellers_version + 1
    assert after_rotation.last_seq == after_report.last_seq


def test_every_process_object_over_the_same_database_hears_a_write_at_once(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    with HubAdmin(hub.settings) as admin:  # its own Database object and connection pool
        admin.set_delisted("m1", True)
    assert hub.context.notifier.counters == hub.context.db.counters()


def test_a_database_reset_behind_the_hubs_back_is_taken_as_it_is(hub_url: str) -> None:
    db = Database(hub_url)
    notifier = FeedNotifier(db)
    try:
        notifier.observe(HubCounters(50, 10, 3))  # what earlier writes announced
        with db.engine.begin() as conn:  # e.g. the database restored from an old backup
            conn.execute(update(HubState).values(last_seq=7, horizon_seq=0, sellers_version=1))
        # A thread of its own: an earlier browser test may have left an event loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, notifier.refresh()).result() == HubCounters(7, 0, 1)
    finally:
        notifier.close()
        db.dispose()


def test_news_announced_out_of_order_never_moves_the_view_back(hub_url: str) -> None:
    db = Database(hub_url)
    notifier = FeedNotifier(db)
    try:
        # Above whatever the session's database holds already (other tests wrote to it).
        start = notifier.counters
        newer = HubCounters(start.last_seq + 12, start.horizon_seq, start.sellers_version + 2)
        earlier = HubCounters(start.last_seq + 11, start.horizon_seq, start.sellers_version + 2)
        notifier.observe(newer)
        notifier.observe(earlier)  # an earlier commit whose announcement came late
        assert notifier.counters == newer
    finally:
        notifier.close()
        db.dispose()
