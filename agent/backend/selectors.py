"""Load a selectors file (the seller backend's markup as data) and fill its URL templates.

A file is named by a shipped stem (`mock-v1`, looked up in the repository's `selectors/` or, in an
installed wheel, `agent/_shipped_selectors`) or by a path. A user override is deep-merged on top, then the
result is validated against the names the page objects read (see selectors/README.md), so a broken file
fails at start-up with a `ConfigError` naming the file and the key, not halfway through a blacklist run:
every CSS selector is parsed, every regular expression compiled, every date format and timezone tried.

Python never names a URL template: each page owns its URLs (`[pages.<page>] url`, and the variants its
page object reads, such as the customers page's `blacklisted_url`), which may be written in place or name
a template of the shared `[urls]` table.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from agent.backend.values import ISO, ValueRule
from agent.errors import ConfigError

Strategy = Literal["http", "json", "browser"]
STRATEGIES: tuple[Strategy, ...] = ("http", "json", "browser")
ActionStrategy = Literal["http", "browser"]
PaginationMode = Literal["page", "offset", "next_link"]
PAGINATION_MODES: tuple[PaginationMode, ...] = ("page", "offset", "next_link")

# What each page object reads. A name ending in "?" may be left out of a file.
PAGE_CONTRACT: dict[str, dict[str, tuple[str, ...]]] = {
    "login": {
        "urls": ("url",),
        "selectors": ("form", "username", "password", "submit", "error?"),
        "outcomes": ("invalid?", "locked?"),
    },
    "otp": {"urls": ("url?",), "selectors": ("form", "code", "submit", "error?")},
    "home": {"urls": ("url",), "selectors": ("customers_entry",)},
    "customers": {
        "urls": ("url", "blacklisted_url"),
        "selectors": ("table", "row", "next_page?", "total?", "empty?", "csrf_token?"),
        "fields": (
            "member_id",
            "name",
            "country?",
            "orders?",
            "amount?",
            "last_order_at?",
            "blacklisted?",
            "blacklisted_at?",
        ),
        "row_actions": ("remove?",),
        "outcomes": ("removed?",),
    },
    "orders": {
        "urls": ("url", "since_url?"),
        "selectors": ("table", "row", "next_page?", "total?", "empty?", "csrf_token?"),
        "fields": ("order_id", "member_id", "buyer_name", "created_at", "status?", "amount?"),
    },
    "order_detail": {
        "urls": ("url",),
        "selectors": ("buyer_block", "member_id", "buyer_name", "blacklist_action"),
    },
    "buyer": {"urls": ("url",), "selectors": ("member_id", "name")},
    "blacklist_confirm": {
        "urls": ("url",),
        "selectors": ("form", "confirm", "member_id?", "name?"),
        "outcomes": ("added?", "already_blacklisted?", "name_mismatch?", "unknown_buyer?", "blacklist_full?"),
    },
    "blacklist_result": {
        "selectors": ("message",),
        "outcomes": ("added", "already_blacklisted", "name_mismatch", "unknown_buyer", "blacklist_full"),
    },
}
OPTIONAL_PAGES = frozenset({"otp", "buyer"})
TABLE_PAGES = frozenset({"customers", "orders"})
# The placeholders each URL role is filled with (a template may use fewer).
URL_PARAMS: dict[str, frozenset[str]] = {
    "login": frozenset(),
    "otp": frozenset(),
    "home": frozenset(),
    "customers": frozenset({"page", "offset", "limit"}),
    "orders": frozenset({"page", "offset", "limit", "created_after"}),
    "order_detail": frozenset({"order_id"}),
    "buyer": frozenset({"member_id"}),
    "blacklist_confirm": frozenset({"member_id", "name"}),
}
_SHIPPED_IN_WHEEL = Path(__file__).resolve().parent.parent / "_shipped_selectors"
_SHIPPED_IN_REPO = Path(__file__).resolve().parent.parent.parent / "selectors"


@dataclass(frozen=True, slots=True)
class Selector:
    """A named CSS selector; `attr` reads an attribute instead of the text; `rule` turns the text into a
    value (pattern, word map); `formats` are the date formats of a date field."""

    name: str
    css: str
    optional: bool = False
    attr: str | None = None
    rule: ValueRule = field(default_factory=ValueRule)
    formats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JsonField:
    """Where a field is in a JSON item (a dotted path), and how its value is read."""

    name: str
    key: str
    rule: ValueRule = field(default_factory=ValueRule)
    formats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a page says after an action: present when `css` matches (and its text matches `text`)."""

    name: str
    css: str
    text: Any = None  # re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class Pagination:
    """How a table's pages are addressed: `{page}` counted from `first`, `{offset}`/`{limit}` with `size`
    rows a page, or the `next_page` link followed (one page at a time)."""

    mode: PaginationMode = "page"
    first: int = 1
    size: int | None = None

    def params(self, index: int) -> dict[str, object]:
        """Placeholders for the page at 0-based `index`."""
        size = self.size or 0
        return {"page": self.first + index, "offset": index * size, "limit": size}


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page object's part of a selectors file."""

    name: str
    urls: dict[str, str]
    strategy: Strategy
    action_strategy: ActionStrategy
    selectors: dict[str, Selector]
    fields: dict[str, Selector] = field(default_factory=dict)
    row_actions: dict[str, Selector] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    pagination: Pagination = field(default_factory=Pagination)
    items: str = "items"
    total: str | None = None
    pages: str | None = None
    json_fields: dict[str, JsonField] = field(default_factory=dict)
    csrf_header: str | None = None
    created_after_format: str = ISO
    created_after_timezone: tzinfo | None = None
    source: str = ""

    def selector(self, name: str) -> Selector:
        try:
            return self.selectors[name]
        except KeyError:
            raise ConfigError(
                f"page {self.name!r} has no selector {name!r}", key=f"pages.{self.name}.selectors.{name}"
            ) from None

    def has(self, name: str) -> bool:
        return name in self.selectors

    def has_url(self, role: str) -> bool:
        return role in self.urls

    def url(self, role: str = "url", /, **params: object) -> str:
        """Fill one of this page's URL templates, percent-encoding every value."""
        try:
            template = self.urls[role]
        except KeyError:
            raise ConfigError(
                f"{self.source}: page {self.name!r} has no {role!r}", key=f"pages.{self.name}.{role}"
            ) from None
        return fill_template(template, params, where=f"{self.source}: pages.{self.name}.{role}")


@dataclass(frozen=True, slots=True)
class SiteSelectors:
    """A validated selectors file: site info, its timezone and date formats, and page specs."""

    source: str
    name: str
    layout: str
    description: str
    pages: dict[str, PageSpec]
    timezone: tzinfo = UTC
    date_formats: tuple[str, ...] = (ISO,)

    def page(self, name: str) -> PageSpec:
        try:
            return self.pages[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no [pages.{name}] section", key=f"pages.{name}") from None

    def url(self, page: str, /, **params: object) -> str:
        """The URL of page `page` (its `url`), filled with `params`."""
        return self.page(page).url("url", **params)


def fill_template(template: str, params: Mapping[str, object], *, where: str) -> str:
    out: list[str] = []
    for literal, placeholder, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if placeholder is None:
            continue
        if spec or conversion or placeholder not in params:
            raise ConfigError(f"{where}: placeholder {{{placeholder}}} cannot be filled", key=where)
        out.append(quote(str(params[placeholder]), safe=""))
    return "".join(out)


def placeholders(template: str) -> set[str]:
    return {p for _, p, _, _ in string.Formatter().parse(template) if p is not None}


def shipped_dir() -> Path:
    """Where the shipped selectors files live: inside the wheel when installed, else the repository."""
    return _SHIPPED_IN_WHEEL if _SHIPPED_IN_WHEEL.is_dir() else _SHIPPED_IN_REPO


def shipped_stems() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.toml"))


def resolve_path(spec: str) -> Path:
    """A stem of a shipped file, or a path to a .toml file."""
    looks_like_path = spec.endswith(".toml") or "/" in spec or "\\" in spec
    path = Path(spec).expanduser() if looks_like_path else shipped_dir() / f"{spec}.toml"
    if not path.is_file():
        known = ", ".join(shipped_stems()) or "none"
        raise ConfigError(
            f"selectors file {spec!r} not found ({path}); shipped files: {known}", key="backend.selectors"
        )
    return path


def load_selectors(spec: str, override: Path | None = None) -> SiteSelectors:
    """Load, merge and validate a selectors file; raises ConfigError naming the file and the key."""
    from agent.backend.selectors_reader import parse_selectors

    path = resolve_path(spec)
    data = _read_toml(path, "backend.selectors")
    source = str(path)
    if override is not None:
        if not override.is_file():
            raise ConfigError(
                f"selectors override {override} does not exist", key="backend.selectors_override"
            )
        data = deep_merge(data, _read_toml(override, "backend.selectors_override"))
        source = f"{path} + {override}"
    return parse_selectors(data, source=source)


def parse_selectors(data: Mapping[str, Any], *, source: str) -> SiteSelectors:
    from agent.backend.selectors_reader import parse_selectors as parse

    return parse(data, source=source)


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `top` replaces the one in `base`."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path, key: str) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", key=key) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", key=key) from None
