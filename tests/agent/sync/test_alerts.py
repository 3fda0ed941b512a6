"""Check before shipping: alerts on other stores' reports only, by lookup, batched, the cache as fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hostile_hub import HTML_200, HostileHub, as_json

from agent.hub_client import HubClient
from agent.hub_models import Report, SharedEntry
from agent.models import Order
from agent.state import LocalState
from agent.sync.alerts import check_before_shipping

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
LOOKUP = ("GET", "/v1/lookup")


def order(n: int, member_id: str, age: timedelta = timedelta(hours=1)) -> Order:
    return Order(f"o{n}", member_id, f"Buyer {member_id}", NOW - age)


def found(member_id: str, reporters: int, own: bool) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "name": f"Buyer {member_id}",
        "reporters": reporters,
        "score": 40,
        "reasons": {"fraud": reporters},
        "own_report": own,
    }


class LookupHub(HostileHub):
    def __init__(self, known: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

        def lookup(path: str) -> tuple[int, str, bytes]:
            ids = parse_qs(urlsplit(path).query)["member_id"]
            self.batches.append(ids)
            return as_json(200, {"entries": [known[m] for m in ids if m in known]})

        self.routes[LOOKUP] = lookup


@pytest.fixture
def hub() -> Iterator[LookupHub]:
    known = {
        "mine": found("mine", 1, own=True),  # only this store reports it
        "elsewhere": found("elsewhere", 1, own=False),  # one other store, not in the feed
        "both": found("both", 2, own=True),
    }
    with LookupHub(known) as server:
        yield server


def client(hub: HostileHub) -> HubClient:
    return HubClient(hub.url, "tok-0123456789", max_retries=0, sleep=lambda _: None)


def alerted(check: Any) -> list[str]:
    return sorted(a.member_id for a in check.alerts)


def test_alerts_only_on_other_stores_reports_even_unpublished_ones(hub: LookupHub) -> None:
    state = LocalState.in_memory()
    orders = [order(1, "mine"), order(2, "elsewhere"), order(3, "both"), order(4, "clean")]
    check = check_before_shipping(client(hub), state, orders, {}, now=NOW)
    assert alerted(check) == ["both", "elsewhere"]
    assert check.looked_up == 4


def test_buyers_are_looked_up_in_batches_of_fifty_once_each(hub: LookupHub) -> None:
    orders = [order(n, f"b{n % 120}") for n in range(240)]
    check_before_shipping(client(hub), LocalState.in_memory(), orders, {}, now=NOW)
    assert [len(b) for b in hub.batches] == [50, 50, 20]


def test_old_orders_raise_no_alert_and_are_not_looked_up(hub: LookupHub) -> None:
    check = check_before_shipping(
        client(hub), LocalState.in_memory(), [order(1, "elsewhere", timedelta(days=30))], {}, now=NOW
    )
    assert check.alerts == []
    assert hub.batches == []


def test_the_cached_list_serves_when_the_lookup_fails_and_own_reports_do_not_alert() -> None:
    state = LocalState.in_memory()
    with state.transaction():
        state.reported.mark([Report("mine", "Buyer mine")])
    shared = {
        "mine": SharedEntry("mine", "Buyer mine", 1, 20, {"fraud": 1}),
        "two": SharedEntry("two", "Buyer two", 2, 50, {"fraud": 2}),
    }
    with HostileHub() as broken:
        broken.routes[LOOKUP] = HTML_200
        check = check_before_shipping(
            client(broken), state, [order(1, "mine"), order(2, "two")], shared, now=NOW
        )
    assert alerted(check) == ["two"]
    assert check.problem is not None
    assert "not JSON" in check.problem


def test_an_alert_is_raised_once_per_order(hub: LookupHub) -> None:
    state = LocalState.in_memory()
    first = check_before_shipping(client(hub), state, [order(1, "elsewhere")], {}, now=NOW)
    again = check_before_shipping(client(hub), state, [order(1, "elsewhere")], {}, now=NOW)
    assert (len(first.alerts), len(again.alerts)) == (1, 0)
