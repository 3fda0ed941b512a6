"""The driver's manners towards the seller center: a budget of requests per cycle, pacing with jitter, and a
slowdown after a 429 or 5xx that holds for the rest of the cycle. Spacing is checked on the transport's own
recorded schedule (when each request started, and the gap it imposed), never on the test's clock."""

from __future__ import annotations

import itertools

import pytest
from backend_helpers import OpenStore

from agent.backend.driver import PlaywrightBackend
from agent.backend.transport import PACING_JITTER, Transport
from agent.errors import BudgetExhausted
from fixtures.mock_backend.testing import MockControl


def transport_of(store: PlaywrightBackend) -> Transport:
    return store._rt.transport  # the counters a benchmark would read


def honoured(transport: Transport) -> bool:
    """Every request started no sooner than the gap the previous start asked for."""
    pairs = zip(itertools.pairwise(transport.starts), transport.gaps, strict=False)
    return all(later - earlier >= gap for (earlier, later), gap in pairs)


def test_requests_are_paced_with_jitter_and_never_closer_than_the_minimum(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    store = open_store(pacing_ms=30)
    expected = {c["member_id"] for c in mock_backend.store(full=True)["customers"]}

    assert {c.member_id for c in store.read_customers()} == expected
    transport = transport_of(store)
    assert len(transport.starts) >= 4
    assert honoured(transport)
    assert all(0.030 <= gap <= 0.030 * (1 + PACING_JITTER) for gap in transport.gaps)
    assert len(set(transport.gaps)) > 1  # jittered, not a fixed beat


def test_a_429_slows_every_later_request_for_the_rest_of_the_cycle(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    store = open_store()
    store.ensure_session()
    expected = {c["member_id"] for c in mock_backend.store(full=True)["customers"]}
    mock_backend.set_faults(rate_limit=2)

    assert {c.member_id for c in store.read_customers()} == expected
    transport = transport_of(store)
    assert transport.slowdown > 0
    assert honoured(transport)
    first_slow = next(i for i, gap in enumerate(transport.gaps) if gap > 0)
    later = transport.gaps[first_slow:]
    assert later == sorted(later)  # once slowed, never faster again in this cycle
    mock_backend.set_faults(rate_limit=0)
    store.new_cycle()
    assert transport.slowdown == 0  # the next cycle starts at the normal pace


def test_the_budget_stops_a_read_with_a_clear_error_and_the_next_cycle_gets_a_new_one(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    open_store().ensure_session()  # an earlier run logged in (a login takes three requests of its own)
    store = open_store(request_budget=2)  # the customers list has three pages
    store.ensure_session()  # takes the saved session
    transport = transport_of(store)
    store.new_cycle()

    with pytest.raises(BudgetExhausted, match=r"budget of 2 requests .*backend.request_budget") as caught:
        list(store.read_customers())

    assert caught.value.budget == 2
    assert caught.value.page == "customers"
    assert transport.spent == 2
    store.new_cycle()
    assert len(store.read_blacklist()) == len(mock_backend.blacklist_ids())
