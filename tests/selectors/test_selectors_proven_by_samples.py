"""Every selector of every shipped selectors file is proven by a frozen sample page (fail2ban style).

One test per selectors file and page object: it fails when the page has no sample, when a selector is not
used by the agent's code, when it matches nothing on its sample (unless optional or expected 0), or when it
matches a different number of elements than `<page>.expect.toml` says.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from agent.backend.selectors import PageSpec, SiteSelectors, load_selectors, shipped_dir

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "fixtures" / "pages"
AGENT_SOURCES = REPO / "agent"


def cases() -> list[Any]:
    out = []
    for path in sorted(shipped_dir().glob("*.toml")):
        for page in load_selectors(path.stem).pages:
            out.append(pytest.param(path.stem, page, id=f"{path.stem}/{page}"))
    return out


@cache
def agent_source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(AGENT_SOURCES.rglob("*.py")))


def used_by_agent(name: str) -> bool:
    return re.search(rf"""["']{re.escape(name)}["'?]""", agent_source()) is not None


@pytest.mark.parametrize(("stem", "page"), cases())
def test_selectors_are_used_and_match_their_sample(stem: str, page: str) -> None:
    site: SiteSelectors = load_selectors(stem)
    spec: PageSpec = site.pages[page]
    html_path = SAMPLES / stem / f"{page}.html"
    expect_path = SAMPLES / stem / f"{page}.expect.toml"
    assert html_path.is_file(), f"no frozen sample {html_path.relative_to(REPO)}"
    assert expect_path.is_file(), f"no expected counts {expect_path.relative_to(REPO)}"
    tree = LexborHTMLParser(html_path.read_text(encoding="utf-8"))
    expect = tomllib.loads(expect_path.read_text(encoding="utf-8"))
    rows = tree.css(spec.selectors["row"].css) if "row" in spec.selectors else []

    found: dict[str, dict[str, tuple[int, bool]]] = {
        "selectors": {},
        "fields": {},
        "row_actions": {},
        "outcomes": {},
    }
    for name, sel in spec.selectors.items():
        found["selectors"][name] = (len(tree.css(sel.css)), sel.optional)
    for group, table in (("fields", spec.fields), ("row_actions", spec.row_actions)):
        for name, sel in table.items():
            found[group][name] = (sum(len(row.css(sel.css)) for row in rows), sel.optional)
    for name, outcome in spec.outcomes.items():
        nodes = tree.css(outcome.css)
        if outcome.text is not None:
            nodes = [n for n in nodes if outcome.text.search(n.text())]
        found["outcomes"][name] = (len(nodes), True)  # a page shows one outcome at a time

    problems: list[str] = []
    for group, names in found.items():
        expected = expect if group == "selectors" else expect.get(group, {})
        for name, (count, optional) in names.items():
            label = name if group == "selectors" else f"{group}.{name}"
            css = _css(spec, group, name)
            if not used_by_agent(name):
                problems.append(f"{label} ({css}) is not used by the agent's code")
            want = expected.get(name)
            if isinstance(want, int) and count != want:
                problems.append(f"{label} ({css}) matches {count}, expected {want}")
            elif want is None and count == 0 and not optional:
                problems.append(f"{label} ({css}) matches nothing")
        stale = set(k for k, v in expected.items() if not isinstance(v, dict)) - set(names)
        problems.extend(f"{group}.{k} is expected but not in the selectors file" for k in sorted(stale))
    assert not problems, f"{stem} page {page!r} against {html_path.name}:\n  " + "\n  ".join(problems)


def _css(spec: PageSpec, group: str, name: str) -> str:
    if group == "outcomes":
        return spec.outcomes[name].css
    table = {"selectors": spec.selectors, "fields": spec.fields, "row_actions": spec.row_actions}[group]
    return table[name].css


def test_every_shipped_selectors_file_has_samples() -> None:
    stems = [p.stem for p in shipped_dir().glob("*.toml")]
    assert stems
    for stem in stems:
        assert (SAMPLES / stem).is_dir(), f"selectors/{stem}.toml has no fixtures/pages/{stem}/"
