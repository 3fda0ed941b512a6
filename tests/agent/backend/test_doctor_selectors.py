"""`doctor` checks the whole selectors file at load and names the selector that cannot be parsed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.cli_support import cli, init_agent, isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolate(tmp_path, monkeypatch)


def test_doctor_names_an_invalid_css_selector_and_points_to_the_guide(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "http://127.0.0.1:9", "seller")
    override = tmp_path / "local.toml"
    override.write_text("[pages.customers.selectors]\nrow = \"div.row:has-text('x')\"\n", encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[backend]\n", f'[backend]\nselectors_override = "{override}"\n', 1))
    result = cli("--config", str(config), "doctor", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["selectors"]["status"] == "fail"
    assert "pages.customers.selectors.row" in checks["selectors"]["detail"]
    assert "selectors/README.md" in checks["selectors"]["hint"]
    assert checks["login"]["status"] == "skip"
