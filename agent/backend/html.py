"""A fetched page, parsed with selectolax and read through the selectors file's names.

Every page object reads HTML the same way whether it came from `context.request` (server-rendered pages)
or from a rendered browser page (`page.content()`), so the extraction code is written once. A selector that
does not match raises `PageMismatch`, which keeps the HTML so the driver can save it with a screenshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from agent.backend.selectors import PAGE_CONTRACT, PageSpec, Selector
from agent.backend.values import Unreadable
from agent.backend.values import clean as clean  # read by the page objects and the session
from agent.errors import BackendError, SelectorNotFound

_TRUE = frozenset({"1", "true", "yes", "blacklisted", "on", "y"})
# Said with every mismatch: where a seller (or whoever maintains their selectors file) goes from here.
LAYOUT_HINT = (
    "the seller center's pages may have changed: check the selectors file named by `backend.selectors` "
    "(and `backend.selectors_override`) against the page, see the selectors guide (selectors/README.md)"
)


class PageFailure(BackendError):
    """A page said something the driver cannot accept; holds the HTML until the driver has saved it."""

    def __init__(self, message: str, *, html: str | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.html = html


class PageMismatch(SelectorNotFound):
    """A SelectorNotFound that still holds the page's HTML until the driver has saved it."""

    def __init__(self, message: str, *, html: str | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.html = html


@dataclass(frozen=True, slots=True)
class Form:
    """A form as a browser would submit it: absolute action URL, method and its successful fields."""

    action: str
    method: str
    fields: dict[str, str]


class PageView:
    """One page's HTML, read by selector name."""

    def __init__(self, spec: PageSpec, url: str, html: str) -> None:
        self.spec = spec
        self.url = url
        self.html = html
        self.tree = LexborHTMLParser(html)

    def mismatch(self, selector: Selector, problem: str = "matched nothing") -> PageMismatch:
        return PageMismatch(
            f"page {self.spec.name!r}: selector {selector.name!r} ({selector.css}) {problem}; {LAYOUT_HINT}",
            html=self.html,
            selector_name=selector.name,
            selector=selector.css,
            page=self.spec.name,
            url=self.url,
        )

    def failure(self, message: str) -> PageFailure:
        return PageFailure(
            f"page {self.spec.name!r}: {message}", html=self.html, page=self.spec.name, url=self.url
        )

    def all(self, name: str) -> list[LexborNode]:
        return list(self.tree.css(self.spec.selector(name).css))

    def exists(self, name: str) -> bool:
        return self.spec.has(name) and self.tree.css_first(self.spec.selector(name).css) is not None

    def one(self, name: str) -> LexborNode:
        selector = self.spec.selector(name)
        node = self.tree.css_first(selector.css)
        if node is None:
            raise self.mismatch(selector)
        return node

    def text(self, name: str) -> str:
        selector = self.spec.selector(name)
        try:
            return read(self.one(name), selector)
        except Unreadable as exc:
            raise self.mismatch(selector, f"reads {exc}") from None

    def require(self, *names: str) -> None:
        for name in names:
            self.one(name)

    def outcome(self) -> str | None:
        """The first outcome (in file order) that the page shows, or None."""
        for outcome in self.spec.outcomes.values():
            for node in self.tree.css(outcome.css):
                if outcome.text is None or outcome.text.search(clean(node.text())):
                    return outcome.name
        return None

    def rows(self) -> list[dict[str, str]]:
        """Every table row as {field name: raw text}; a required field missing from a row is a mismatch."""
        row_selector = self.spec.selector("row")
        out: list[dict[str, str]] = []
        for row in self.tree.css(row_selector.css):
            values: dict[str, str] = {}
            for name, fsel in self.spec.fields.items():
                node = row.css_first(fsel.css)
                if node is None:
                    if fsel.optional or _optional_field(self.spec, name):
                        continue
                    raise self.mismatch(fsel, "matched nothing inside a row")
                try:
                    values[name] = read(node, fsel)
                except Unreadable as exc:
                    raise self.mismatch(fsel, f"reads {exc} in row {len(out) + 1}") from None
            out.append(values)
        return out

    def looks_like_rows(self) -> int:
        """How many rows the table seems to hold, whatever the `row` selector says (0 when unsure).

        Counted generically: body rows of a `<table>` and ARIA rows (`role=row`) after the first (the
        header), inside the `table` selector's element. Used only to refuse reading an empty list from
        a table that is not empty.
        """
        table = self.tree.css_first(self.spec.selector("table").css)
        if table is None:
            return 0
        body_rows = len(table.css("tbody tr")) or max(0, len(table.css("tr")) - 1)
        aria_rows = max(0, len(table.css("[role=row]")) - 1)
        return max(body_rows, aria_rows)

    def row_action(self, member_id: str, action: str) -> LexborNode | None:
        """The `action` control in the row whose member_id field is `member_id`."""
        fsel = self.spec.fields["member_id"]
        asel = self.spec.row_actions.get(action)
        if asel is None:
            return None
        for row in self.tree.css(self.spec.selector("row").css):
            node = row.css_first(fsel.css)
            if node is not None and _read_or_none(node, fsel) == member_id:
                control = row.css_first(asel.css)
                if control is None:
                    raise self.mismatch(asel, f"matched nothing in the row of member {member_id}")
                return control
        return None

    def form(self, node: LexborNode, *, submitter: LexborNode | None = None) -> Form:
        return form_of(node, self.url, submitter=submitter)


def _optional_field(spec: PageSpec, name: str) -> bool:
    return f"{name}?" in PAGE_CONTRACT.get(spec.name, {}).get("fields", ())


def read(node: LexborNode, selector: Selector) -> str:
    """The node's text (or attribute), through the selector's pattern and word map; raises Unreadable."""
    raw = node.attributes.get(selector.attr) or "" if selector.attr else node.text()
    return selector.rule.apply(raw)


def _read_or_none(node: LexborNode, selector: Selector) -> str | None:
    try:
        return read(node, selector)
    except Unreadable:
        return None


def enclosing_form(node: LexborNode) -> LexborNode | None:
    current: LexborNode | None = node
    while current is not None and current.tag != "form":
        current = current.parent
    return current


def form_of(node: LexborNode, page_url: str, *, submitter: LexborNode | None = None) -> Form:
    """The form `node` is (or is inside), with hidden and filled fields plus the submitter's name/value."""
    form = enclosing_form(node)
    if form is None:
        raise ValueError("not inside a form")
    if submitter is None and node.tag in ("button", "input"):
        submitter = node
    fields: dict[str, str] = {}
    for control in form.css("input, select, textarea"):
        attrs = control.attributes
        name = attrs.get("name")
        kind = (attrs.get("type") or "text").lower()
        if not name or "disabled" in attrs or kind in ("submit", "button", "image", "reset", "file"):
            continue
        if kind in ("checkbox", "radio") and "checked" not in attrs:
            continue
        if control.tag == "select":
            chosen = control.css_first("option[selected]") or control.css_first("option")
            value = "" if chosen is None else (chosen.attributes.get("value") or chosen.text())
        elif control.tag == "textarea":
            value = control.text()
        else:
            value = attrs.get("value") or ("on" if kind in ("checkbox", "radio") else "")
        fields[name] = value
    if submitter is not None and submitter.attributes.get("name"):
        fields[str(submitter.attributes["name"])] = submitter.attributes.get("value") or ""
    action = form.attributes.get("action") or page_url
    method = (form.attributes.get("method") or "get").lower()
    return Form(action=urljoin(page_url, action), method=method, fields=fields)


def as_bool(value: str | None) -> bool:
    return value is not None and clean(value).lower() in _TRUE


def as_int(value: str | None) -> int:
    digits = re.sub(r"[^\d-]", "", value or "")
    return int(digits) if digits not in ("", "-") else 0


def as_float(value: str | None) -> float:
    text = re.sub(r"[^\d.,-]", "", value or "").replace(",", "")
    try:
        return float(text)
    except ValueError:
        return 0.0


def dig(data: Any, path: str | None) -> Any:
    """Follow a dotted path (`data.items`) into decoded JSON; None when absent."""
    if path is None:
        return None
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
