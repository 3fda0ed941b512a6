"""Chromium starts only when a page needs it: with a saved session, a whole round of reading and changing
on `http` pages runs on plain requests, and a `browser` action starts the browser for itself alone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psutil
import pytest
from backend_helpers import LAYOUTS, OpenStore, not_blacklisted

from agent.models import BlacklistOutcome, RemovalOutcome
from fixtures.mock_backend.testing import MockControl


def chromium_browsers() -> set[int]:
    """This test process's running Chromium browsers: the Chromium processes whose parent is not Chromium.

    Counting every Chromium process was flaky: a browser started by another test of this worker (a
    session-wide one) starts and ends renderer processes of its own at any time.
    """

    def chromium(process: psutil.Process) -> bool:
        try:
            return "chrom" in process.name().lower()
        except psutil.NoSuchProcess:
            return False

    browsers: set[int] = set()
    for child in psutil.Process().children(recursive=True):
        try:
            parent = child.parent()
        except psutil.NoSuchProcess:
            continue
        if chromium(child) and (parent is None or not chromium(parent)):
            browsers.add(child.pid)
    return browsers


@pytest.mark.parametrize("layout", [x for x in LAYOUTS if x != "v2"])  # v2's tables are JSON: same path
def test_a_sync_round_on_http_pages_with_a_saved_session_starts_no_browser(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path, layout: str
) -> None:
    mock_backend.set_faults(layout=layout)
    data_dir = tmp_path / "agent"
    first = open_store(selectors=f"mock-{layout}", data_dir=data_dir)
    first.ensure_session()  # logs in: the only browser of this test
    assert first.browser_launches == 1
    first.close()

    before = chromium_browsers()
    again = open_store(selectors=f"mock-{layout}", data_dir=data_dir)
    again.ensure_session()
    listed = [e.member_id for e in again.read_blacklist()]
    watermark = datetime.fromisoformat(mock_backend.store(full=True)["orders"][5]["created_at"])
    assert again.read_orders(newer_than=watermark)
    ((member_id, name),) = not_blacklisted(mock_backend, 1)
    assert again.blacklist_by_link(member_id, name).outcome is BlacklistOutcome.ADDED
    assert again.remove_from_blacklist(listed[0]) is RemovalOutcome.REMOVED
    assert chromium_browsers() == before
    assert again.browser_launches == 0
    assert again.logins == 0
    assert member_id in mock_backend.blacklist_ids("store-a")
    assert listed[0] not in mock_backend.blacklist_ids("store-a")


def test_a_browser_action_on_an_http_page_starts_the_browser_for_that_action_only(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    mock_backend.set_faults(layout="v3")
    data_dir = tmp_path / "agent"
    open_store(selectors="mock-v3", data_dir=data_dir).close()  # nothing read: no login, no browser
    first = open_store(selectors="mock-v3", data_dir=data_dir)
    first.ensure_session()
    first.close()
    override = tmp_path / "local.toml"
    override.write_text('[pages.customers]\naction_strategy = "browser"\n', encoding="utf-8")
    driver = open_store(selectors="mock-v3", selectors_override=str(override), data_dir=data_dir)
    listed = [e.member_id for e in driver.read_blacklist()]
    assert driver.browser_launches == 0  # the list is read over http
    assert driver.remove_from_blacklist(listed[-1]) is RemovalOutcome.REMOVED  # clicked, dialog accepted
    assert driver.browser_launches == 1
    assert listed[-1] not in mock_backend.blacklist_ids("store-a")
