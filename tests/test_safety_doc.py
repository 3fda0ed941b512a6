"""docs/safety.md stays true: every test it names exists, every rule names a test, and every "rule N" the code
cites is one of its rules."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "safety.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
RULE_HEADING = re.compile(r"^## Rule (\d+):", re.MULTILINE)


def test_every_test_the_safety_rules_name_exists() -> None:
    refs = TEST_REF.findall(DOC.read_text(encoding="utf-8"))
    assert len(refs) > 30
    missing = []
    for path, name in refs:
        file = ROOT / path
        if not file.is_file() or not re.search(
            rf"^(async )?def {name}\(", file.read_text("utf-8"), re.MULTILINE
        ):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_rules_one_to_ten_are_numbered_and_each_names_a_test() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert [int(n) for n in RULE_HEADING.findall(text)] == list(range(1, 11))
    sections = RULE_HEADING.split(text)[1:]
    for number, body in zip(sections[::2], sections[1::2], strict=True):
        assert TEST_REF.search(body), f"rule {number} names no test"


def test_every_rule_the_code_cites_is_in_the_safety_doc() -> None:
    rules = {int(n) for n in RULE_HEADING.findall(DOC.read_text(encoding="utf-8"))}
    cited = set()
    for file in (ROOT / "agent").rglob("*.py"):
        cited |= {int(n) for n in re.findall(r"\brules? (\d+)", file.read_text(encoding="utf-8"))}
    assert cited
    assert cited <= rules
