"""Changing a store's blacklist through the driver: by link, many at once, from an order, removal.

Every assertion about a change is checked against the mock backend's own state, not the driver's word.
"""

from __future__ import annotations

import httpx
import pytest
from backend_helpers import not_blacklisted

from agent.backend.driver import PlaywrightBackend
from agent.errors import BackendError
from agent.models import BlacklistOutcome, RemovalOutcome
from fixtures.mock_backend.testing import MockControl


def test_blacklist_by_link_adds_then_reports_already(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    member_id, name = not_blacklisted(mock_backend, 1)[0]
    first = backend.blacklist_by_link(member_id, name)
    assert (first.outcome, first.ok) == (BlacklistOutcome.ADDED, True)
    assert mock_backend.blacklist_ids()[0] == member_id
    again = backend.blacklist_by_link(member_id, name)
    assert (again.outcome, again.ok) == (BlacklistOutcome.ALREADY, True)


def test_wrong_name_and_unknown_buyer_change_nothing(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    member_id, name = not_blacklisted(mock_backend, 1)[0]
    before = mock_backend.blacklist_ids()
    assert backend.blacklist_by_link(member_id, name + "x").outcome is BlacklistOutcome.MISMATCH
    assert backend.blacklist_by_link("999999999999999", "Nobody").outcome is BlacklistOutcome.UNKNOWN
    assert mock_backend.blacklist_ids() == before


def test_confirmation_showing_another_name_is_a_mismatch_and_submits_nothing(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    member_id, name = not_blacklisted(mock_backend, 1)[0]
    mock_backend.set_faults(confirm_record_name=True)  # the page shows and posts its own name for the buyer

    result = backend.blacklist_by_link(member_id, name + " Jr")

    assert result.outcome is BlacklistOutcome.MISMATCH  # an answer the engine records, not a failed cycle
    assert repr(name) in result.message
    assert member_id not in mock_backend.blacklist_ids()  # submitting would have added the buyer
    # the right name passes
    assert backend.blacklist_by_link(member_id, name).outcome is BlacklistOutcome.ADDED


SPECIAL_NAMES = {
    "ampersand and equals": "a&memberId=1",
    "plus": "Jean+Luc",
    "hash": "#1 Buyer",
    "percent": "100% Real",
    "slash": "A/B Trading",
    "question mark": "Who? Me",
    "apostrophe and spaces": "Seán  O'Connor",
    "non-ascii": "Zoë Ångström 张伟 عبد",
    "encoded-looking": "%41%26x",
}


@pytest.mark.parametrize("name", SPECIAL_NAMES.values(), ids=SPECIAL_NAMES.keys())
def test_link_blacklists_exactly_the_named_buyer(
    backend: PlaywrightBackend, mock_backend: MockControl, name: str
) -> None:
    decoy = mock_backend.add_buyer("Decoy", member_id="1") if name == "a&memberId=1" else None
    buyer = mock_backend.add_buyer(name)
    before = set(mock_backend.blacklist_ids())
    result = backend.blacklist_by_link(buyer["member_id"], name)
    assert result.outcome is BlacklistOutcome.ADDED
    assert set(mock_backend.blacklist_ids()) - before == {buyer["member_id"]}
    if decoy is not None:
        assert decoy["member_id"] not in mock_backend.blacklist_ids()


def test_many_buyers_are_blacklisted_concurrently(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    buyers = not_blacklisted(mock_backend, 12)
    buyers.append(("999999999999998", "Nobody"))
    progress: list[int] = []
    results = list(backend.blacklist_many(buyers, progress=lambda done, total: progress.append(done)))
    outcomes = {r.member_id: r.outcome for r in results}
    assert outcomes.pop("999999999999998") is BlacklistOutcome.UNKNOWN
    assert set(outcomes.values()) == {BlacklistOutcome.ADDED}
    assert set(outcomes) <= set(mock_backend.blacklist_ids())
    assert progress == list(range(1, len(buyers) + 1))


def test_blacklist_from_an_order_page(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Order Placer")
    order = mock_backend.place_order("store-a", buyer["member_id"])
    result = backend.blacklist_from_order(order["order_id"])
    assert (result.member_id, result.name, result.outcome) == (
        buyer["member_id"],
        "Order Placer",
        BlacklistOutcome.ADDED,
    )
    assert mock_backend.blacklist_ids()[0] == buyer["member_id"]
    with pytest.raises(httpx.HTTPStatusError, match="403"):  # the store now refuses the buyer
        mock_backend.place_order("store-a", buyer["member_id"])


def test_remove_from_blacklist(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    victim = mock_backend.blacklist_ids()[1]
    others = [m for m in mock_backend.blacklist_ids() if m != victim]
    assert backend.remove_from_blacklist(victim) is RemovalOutcome.REMOVED
    assert mock_backend.blacklist_ids() == others
    assert backend.remove_from_blacklist(victim) is RemovalOutcome.NOT_LISTED


def test_an_unknown_order_is_an_error_with_the_page_saved(backend: PlaywrightBackend) -> None:
    with pytest.raises(BackendError, match="HTTP 404") as caught:
        backend.blacklist_from_order("000000000000")
    assert caught.value.page == "order_detail"
    assert {p.suffix for p in caught.value.artifacts} == {".html", ".png"}
