"""A layout that does not match the selectors fails loudly, with evidence, before anything changes."""

from __future__ import annotations

import pytest
from backend_helpers import Drivers, not_blacklisted

from agent.errors import SelectorNotFound
from fixtures.mock_backend.testing import MockControl


@pytest.fixture
def v1_on_v2(drivers: Drivers, mock_backend: MockControl) -> Drivers:
    drivers.get("v1").ensure_session()
    mock_backend.set_faults(layout="v2")  # the site changed its markup under the agent
    return drivers


def test_blacklist_link_on_a_changed_layout_names_page_and_selector_and_changes_nothing(
    v1_on_v2: Drivers, mock_backend: MockControl
) -> None:
    member_id, name = not_blacklisted(mock_backend, 1)[0]
    before = mock_backend.blacklist_ids()
    with pytest.raises(SelectorNotFound) as caught:
        v1_on_v2.get("v1").blacklist_by_link(member_id, name)
    error = caught.value
    assert (error.page, error.selector_name) == ("blacklist_confirm", "form")
    assert error.selector == "form#blacklist-confirm-form"
    assert error.url is not None
    assert "/blacklist/add?memberId=" in error.url
    saved = {p.suffix: p for p in error.artifacts}
    assert saved[".png"].stat().st_size > 0
    assert "sc-confirm-form" in saved[".html"].read_text(encoding="utf-8")
    assert all(str(p) in str(error) for p in error.artifacts)
    assert mock_backend.blacklist_ids() == before


def test_a_batch_stops_on_its_first_buyer(v1_on_v2: Drivers, mock_backend: MockControl) -> None:
    buyers = not_blacklisted(mock_backend, 5)
    before = mock_backend.blacklist_ids()
    with pytest.raises(SelectorNotFound):
        list(v1_on_v2.get("v1").blacklist_many(buyers))
    assert mock_backend.blacklist_ids() == before


def test_removal_on_a_changed_layout_changes_nothing(v1_on_v2: Drivers, mock_backend: MockControl) -> None:
    before = mock_backend.blacklist_ids()
    with pytest.raises(SelectorNotFound) as caught:
        v1_on_v2.get("v1").remove_from_blacklist(before[0])
    assert caught.value.page == "customers"
    assert mock_backend.blacklist_ids() == before
