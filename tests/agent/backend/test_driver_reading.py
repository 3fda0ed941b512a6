"""Reading a store through the driver: home, blacklist, customers, orders since a watermark, buyer page."""

from __future__ import annotations

from datetime import datetime, timedelta

from agent.backend.driver import PlaywrightBackend
from fixtures.mock_backend.testing import MockControl


def test_session_reaches_the_home_page(backend: PlaywrightBackend) -> None:
    backend.ensure_session()  # proves the home page's quick entry, logging in if needed
    backend.ensure_session()


def test_blacklist_is_read_most_recent_first(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    entries = backend.read_blacklist()
    expected = mock_backend.store()["blacklist"]
    assert [(e.member_id, e.name) for e in entries] == [(x["member_id"], x["name"]) for x in expected]
    assert all(e.blacklisted_at is not None for e in entries)


def test_every_customer_is_read_with_its_details(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    progress: list[tuple[int, int | None]] = []
    customers = list(backend.read_customers(progress=lambda done, total: progress.append((done, total))))
    expected = {c["member_id"]: c for c in mock_backend.store(full=True)["customers"]}
    assert len(customers) == len(expected) > 50  # more than one page
    for customer in customers:
        want = expected[customer.member_id]
        assert (customer.name, customer.country, customer.orders, customer.blacklisted) == (
            want["name"],
            want["country"],
            want["orders"],
            want["blacklisted"],
        )
        assert abs(customer.amount - want["amount"]) < 0.005
    assert progress[-1][0] == len(customers)


def test_orders_newer_than_a_watermark(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    all_orders = mock_backend.store(full=True)["orders"]
    assert [o.order_id for o in backend.read_orders()] == [o["order_id"] for o in all_orders]
    watermark = datetime.fromisoformat(all_orders[7]["created_at"])
    newer = backend.read_orders(newer_than=watermark)
    assert [o.order_id for o in newer] == [
        o["order_id"] for o in all_orders if datetime.fromisoformat(o["created_at"]) > watermark
    ]


def test_a_new_order_appears_after_the_watermark(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    watermark = max(o.created_at for o in backend.read_orders())
    buyer = mock_backend.add_buyer("Fresh Buyer")
    placed = mock_backend.place_order("store-a", buyer["member_id"])
    newer = backend.read_orders(newer_than=watermark)
    assert [(o.order_id, o.member_id, o.buyer_name) for o in newer] == [
        (placed["order_id"], buyer["member_id"], "Fresh Buyer")
    ]


def test_buyer_page_shows_member_id_and_name(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Zoë & Co / #1")
    assert backend.read_buyer(buyer["member_id"]) == (buyer["member_id"], "Zoë & Co / #1")


def test_times_are_read_in_the_sites_own_timezone(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    """v3 shows Beijing time without an offset, in another format on each page: read as the same instants."""
    blacklisted = {x["member_id"]: x["blacklisted_at"] for x in mock_backend.store()["blacklist"]}
    for entry in backend.read_blacklist():
        assert entry.blacklisted_at == datetime.fromisoformat(blacklisted[entry.member_id])
    created = {
        o["order_id"]: datetime.fromisoformat(o["created_at"])
        for o in mock_backend.store(full=True)["orders"]
    }
    for order in backend.read_orders():
        truth = created[order.order_id]
        assert truth - timedelta(minutes=1) < order.created_at <= truth  # v3's order list shows minutes only
