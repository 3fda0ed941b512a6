"""The shipped mock selectors files against the live mock, and the frozen samples that prove them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from fixtures.mock_backend.samples import (
    PAGES_DIR,
    SELECTORS_DIR,
    STEMS,
    refresh_v1,
    refresh_v2,
    refresh_v3,
)
from fixtures.mock_backend.testing import MockControl


def test_live_v1_pages_match_the_shipped_selectors(mock_backend: MockControl, tmp_path: Path) -> None:
    assert refresh_v1(mock_backend, tmp_path) == []


def test_live_v2_pages_match_the_shipped_selectors(
    mock_backend: MockControl, browser: Browser, tmp_path: Path
) -> None:
    assert refresh_v2(mock_backend, browser, tmp_path) == []


@pytest.mark.skipif("mock-v3" not in STEMS, reason="selectors/mock-v3.toml is not written yet")
def test_live_v3_pages_match_the_shipped_selectors(mock_backend: MockControl, tmp_path: Path) -> None:
    assert refresh_v3(mock_backend, tmp_path) == []


def test_every_page_of_every_mock_selectors_file_has_a_frozen_sample() -> None:
    for stem in STEMS:
        pages = tomllib.loads((SELECTORS_DIR / f"{stem}.toml").read_text())["pages"]
        for page in pages:
            assert (PAGES_DIR / stem / f"{page}.html").is_file(), f"{stem}/{page}.html"
            expect = tomllib.loads((PAGES_DIR / stem / f"{page}.expect.toml").read_text())
            assert set(expect) >= set(pages[page]["selectors"]), f"{stem}/{page}.expect.toml"
