"""Pagination cannot run away: layout v3 keeps a disabled *Next* on its last page and serves the last page
again for any page past the end, as real seller centers do. With a natural `next_page` selector that also
matches the disabled link, reading still ends, reads each row once, and says which page it stopped on."""

from __future__ import annotations

from pathlib import Path

from backend_helpers import OpenStore

from agent.backend.driver import PlaywrightBackend
from fixtures.mock_backend.testing import MockControl

NATURAL_NEXT = (
    '[pages.customers.selectors]\nnext_page = { css = "div.pager a.pager-next", optional = true }\n'
)
NO_TOTAL = '[pages.customers.selectors.total]\ncss = "span.no-total-shown"\noptional = true\n'


def v3_store(open_store: OpenStore, mock: MockControl, tmp_path: Path, *overrides: str) -> PlaywrightBackend:
    mock.set_faults(layout="v3")
    path = tmp_path / "local.toml"
    path.write_text("\n".join(overrides), encoding="utf-8")
    return open_store(selectors="mock-v3", selectors_override=str(path))


def test_reading_stops_when_the_count_the_page_shows_is_reached(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    driver = v3_store(open_store, mock_backend, tmp_path, NATURAL_NEXT)
    driver.ensure_session()
    truth = [c["member_id"] for c in mock_backend.store(full=True)["customers"]]
    before = driver.requests
    read = [c.member_id for c in driver.read_customers()]
    assert read == truth
    pages = -(-len(truth) // 50)
    assert driver.requests - before <= pages + 1  # at most one page read ahead past the count
    assert len(driver.pagination_stops) == 1
    assert "page 'customers'" in driver.pagination_stops[0]
    assert f"all {len(truth)} rows" in driver.pagination_stops[0]


def test_reading_stops_when_a_page_repeats_the_one_before_it(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    driver = v3_store(open_store, mock_backend, tmp_path, NATURAL_NEXT, NO_TOTAL)
    driver.ensure_session()
    truth = [c["member_id"] for c in mock_backend.store(full=True)["customers"]]
    before = driver.requests
    read = [c.member_id for c in driver.read_customers()]
    assert read == truth  # the repeated last page is not read twice
    assert driver.requests - before <= -(-len(truth) // 50) + 2 * 4  # bounded by the read-ahead window
    assert driver.pagination_stops == [
        f"page 'customers' ({mock_backend.url}/crm/customers?pageNo=3&pageSize=50): "
        "shows the same rows as the page before it"
    ]


def test_following_the_next_link_reads_every_page_once(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    next_link = '[pages.customers]\npagination = { mode = "next_link" }\n'
    driver = v3_store(open_store, mock_backend, tmp_path, next_link)
    truth = [c["member_id"] for c in mock_backend.store(full=True)["customers"]]
    assert [c.member_id for c in driver.read_customers()] == truth
    assert driver.pagination_stops == []


def test_a_wrong_next_link_on_a_repeating_site_is_stopped_and_named(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    next_link = '[pages.customers]\npagination = { mode = "next_link" }\n'
    driver = v3_store(open_store, mock_backend, tmp_path, next_link, NATURAL_NEXT, NO_TOTAL)
    truth = [c["member_id"] for c in mock_backend.store(full=True)["customers"]]
    assert [c.member_id for c in driver.read_customers()] == truth
    assert len(driver.pagination_stops) == 1
    assert "shows the same rows as the page before it" in driver.pagination_stops[0]
