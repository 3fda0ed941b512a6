"""The browser strategy (the fallback for sites where plain requests do not work), through a user override.

The mock's v2 layout renders its tables with JavaScript, so reading them in real browser pages proves the
fallback end to end; the override file also proves `backend.selectors_override` is merged and used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_helpers import not_blacklisted, store_settings

from agent.backend.driver import PlaywrightBackend, open_playwright_backend
from agent.models import BlacklistOutcome, RemovalOutcome
from fixtures.mock_backend.testing import MockControl

ALL_IN_THE_BROWSER = """
[pages.home]
strategy = "browser"
[pages.customers]
strategy = "browser"
[pages.orders]
strategy = "browser"
[pages.order_detail]
strategy = "browser"
[pages.blacklist_confirm]
strategy = "browser"
"""


@pytest.fixture(scope="module")
def browser_only(
    mock_server: MockControl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlaywrightBackend]:
    data_dir = tmp_path_factory.mktemp("browser-only")
    override = Path(data_dir) / "local.toml"
    override.write_text(ALL_IN_THE_BROWSER, encoding="utf-8")
    settings = store_settings(mock_server, data_dir, selectors="mock-v2", selectors_override=str(override))
    with open_playwright_backend(settings, password=mock_server.credentials()[1]) as driver:
        yield driver


@pytest.fixture
def v2_browser(browser_only: PlaywrightBackend, mock_backend: MockControl) -> PlaywrightBackend:
    mock_backend.set_faults(layout="v2")
    return browser_only


def test_override_switched_the_pages_to_the_browser(v2_browser: PlaywrightBackend) -> None:
    assert v2_browser.site.pages["customers"].strategy == "browser"
    assert v2_browser.site.pages["buyer"].strategy == "http"  # untouched keys keep the shipped value
    v2_browser.ensure_session()  # the home page, rendered in a page


def test_tables_rendered_by_javascript_are_read(
    v2_browser: PlaywrightBackend, mock_backend: MockControl
) -> None:
    store = mock_backend.store(full=True)
    assert [e.member_id for e in v2_browser.read_blacklist()] == mock_backend.blacklist_ids()
    assert {c.member_id for c in v2_browser.read_customers()} == {c["member_id"] for c in store["customers"]}
    assert [o.order_id for o in v2_browser.read_orders()] == [o["order_id"] for o in store["orders"]]


def test_changes_are_made_by_clicking(v2_browser: PlaywrightBackend, mock_backend: MockControl) -> None:
    (member_id, name), _ = not_blacklisted(mock_backend, 2)
    assert v2_browser.blacklist_by_link(member_id, name).outcome is BlacklistOutcome.ADDED
    buyer = mock_backend.add_buyer("Clicked From Order")
    order = mock_backend.place_order("store-a", buyer["member_id"])
    assert v2_browser.blacklist_from_order(order["order_id"]).outcome is BlacklistOutcome.ADDED
    assert v2_browser.remove_from_blacklist(member_id) is RemovalOutcome.REMOVED
    listed = mock_backend.blacklist_ids()
    assert buyer["member_id"] in listed
    assert member_id not in listed
