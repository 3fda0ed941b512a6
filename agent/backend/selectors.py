"""Load a selectors file (the seller backend's markup as data) and fill its URL templates.

A file is named by a shipped stem (`mock-v1`, looked up in the repository's `selectors/` or, in an
installed wheel, `agent/_shipped_selectors`) or by a path. A user override is deep-merged on top, then the
result is validated against the names the page objects read (see selectors/README.md), so a broken file
fails at start-up with a `ConfigError` naming the file and the key, not halfway through a blacklist run.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

from agent.errors import ConfigError

Strategy = Literal["http", "json", "browser"]
STRATEGIES: tuple[Strategy, ...] = ("http", "json", "browser")

# What each page object reads. A name ending in "?" may be left out of a file.
PAGE_CONTRACT: dict[str, dict[str, tuple[str, ...]]] = {
    "login": {
        "selectors": ("form", "username", "password", "submit", "error?"),
        "outcomes": ("invalid?", "locked?"),
    },
    "otp": {"selectors": ("form", "code", "submit", "error?")},
    "home": {"selectors": ("customers_entry",)},
    "customers": {
        "selectors": ("table", "row", "next_page?", "total?", "csrf_token?"),
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
        "selectors": ("table", "row", "next_page?", "csrf_token?"),
        "fields": ("order_id", "member_id", "buyer_name", "created_at", "status?", "amount?"),
    },
    "order_detail": {"selectors": ("buyer_block", "member_id", "buyer_name", "blacklist_action")},
    "buyer": {"selectors": ("member_id", "name")},
    "blacklist_confirm": {
        "selectors": ("form", "confirm", "member_id?", "name?"),
        "outcomes": ("added?", "already_blacklisted?", "name_mismatch?", "unknown_buyer?", "blacklist_full?"),
    },
    "blacklist_result": {
        "selectors": ("message",),
        "outcomes": ("added", "already_blacklisted", "name_mismatch", "unknown_buyer", "blacklist_full"),
    },
}
OPTIONAL_PAGES = frozenset({"otp", "buyer"})
REQUIRED_URLS = ("login", "home", "customers", "blacklisted", "orders", "order_detail", "blacklist_link")
_PAGE_KEYS = frozenset(
    {
        "url",
        "strategy",
        "selectors",
        "fields",
        "row_actions",
        "outcomes",
        "api",
        "items",
        "total",
        "pages",
        "json_fields",
        "csrf_header",
        "description",
    }
)
_SHIPPED_IN_WHEEL = Path(__file__).resolve().parent.parent / "_shipped_selectors"
_SHIPPED_IN_REPO = Path(__file__).resolve().parent.parent.parent / "selectors"


@dataclass(frozen=True, slots=True)
class Selector:
    """A named CSS selector; `attr` reads an attribute instead of the text."""

    name: str
    css: str
    optional: bool = False
    attr: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a page says after an action: present when `css` matches (and its text matches `text`)."""

    name: str
    css: str
    text: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page object's part of a selectors file."""

    name: str
    url: str | None
    strategy: Strategy
    selectors: dict[str, Selector]
    fields: dict[str, Selector] = field(default_factory=dict)
    row_actions: dict[str, Selector] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    items: str = "items"
    total: str | None = None
    pages: str | None = None
    json_fields: dict[str, str] = field(default_factory=dict)
    csrf_header: str | None = None

    def selector(self, name: str) -> Selector:
        try:
            return self.selectors[name]
        except KeyError:
            raise ConfigError(
                f"page {self.name!r} has no selector {name!r}", key=f"pages.{self.name}.selectors.{name}"
            ) from None

    def has(self, name: str) -> bool:
        return name in self.selectors


@dataclass(frozen=True, slots=True)
class SiteSelectors:
    """A validated selectors file: site info, URL templates and page specs."""

    source: str
    name: str
    layout: str
    description: str
    urls: dict[str, str]
    pages: dict[str, PageSpec]

    def page(self, name: str) -> PageSpec:
        try:
            return self.pages[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no [pages.{name}] section", key=f"pages.{name}") from None

    def has_url(self, name: str) -> bool:
        return name in self.urls

    def url(self, template_name: str, /, **params: object) -> str:
        """Fill a URL template, percent-encoding every value so each stays exactly one value."""
        try:
            template = self.urls[template_name]
        except KeyError:
            raise ConfigError(
                f"{self.source}: no URL template {template_name!r}", key=f"urls.{template_name}"
            ) from None
        return fill_template(template, params, where=f"{self.source}: urls.{template_name}")


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


class _Reader:
    """Validation helpers that name the file and the dotted key of every problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}", key=key)

    def table(self, data: Mapping[str, Any], key: str, name: str, *, required: bool = True) -> dict[str, Any]:
        value = data.get(name)
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(
                f"{key}.{name}" if key else name, "missing table" if value is None else "must be a table"
            )
        return dict(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value

    def selector(self, name: str, value: Any, key: str) -> Selector:
        if isinstance(value, str):
            return Selector(name, self.text(value, key))
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a CSS string or a table with `css`")
        unknown = set(value) - {"css", "optional", "attr"}
        if unknown:
            raise self.fail(key, f"unknown keys {sorted(unknown)}")
        optional = value.get("optional", False)
        if not isinstance(optional, bool):
            raise self.fail(f"{key}.optional", "must be true or false")
        attr = value.get("attr")
        if attr is not None:
            attr = self.text(attr, f"{key}.attr")
        return Selector(name, self.text(value.get("css"), f"{key}.css"), optional, attr)

    def outcome(self, name: str, value: Any, key: str) -> Outcome:
        if isinstance(value, str):
            return Outcome(name, self.text(value, key))
        if not isinstance(value, Mapping) or set(value) - {"css", "text"}:
            raise self.fail(key, "must be a CSS string or a table with `css` and optional `text`")
        pattern = None
        if "text" in value:
            try:
                pattern = re.compile(self.text(value["text"], f"{key}.text"))
            except re.error as exc:
                raise self.fail(f"{key}.text", f"not a valid regular expression: {exc}") from None
        return Outcome(name, self.text(value.get("css"), f"{key}.css"), pattern)


def parse_selectors(data: Mapping[str, Any], *, source: str) -> SiteSelectors:
    r = _Reader(source)
    site = r.table(data, "", "site")
    urls_raw = r.table(data, "", "urls")
    urls = {name: r.text(value, f"urls.{name}") for name, value in urls_raw.items()}
    for name in REQUIRED_URLS:
        if name not in urls:
            raise r.fail(f"urls.{name}", "missing URL template")
    for needed in ("member_id", "name"):
        if f"{{{needed}}}" not in urls["blacklist_link"]:
            raise r.fail("urls.blacklist_link", f"must contain {{{needed}}}")
    pages_raw = r.table(data, "", "pages")
    pages: dict[str, PageSpec] = {}
    for page_name in pages_raw:
        if page_name not in PAGE_CONTRACT:
            raise r.fail(f"pages.{page_name}", f"unknown page; known pages: {', '.join(PAGE_CONTRACT)}")
        pages[page_name] = _parse_page(r, page_name, r.table(pages_raw, "pages", page_name), urls)
    for page_name in PAGE_CONTRACT:
        if page_name not in pages and page_name not in OPTIONAL_PAGES:
            raise r.fail(f"pages.{page_name}", "missing page section")
    return SiteSelectors(
        source=source,
        name=r.text(site.get("name"), "site.name"),
        layout=str(site.get("layout", "")),
        description=str(site.get("description", "")),
        urls=urls,
        pages=pages,
    )


def _parse_page(r: _Reader, name: str, raw: dict[str, Any], urls: dict[str, str]) -> PageSpec:
    key = f"pages.{name}"
    unknown = set(raw) - _PAGE_KEYS
    if unknown:
        raise r.fail(key, f"unknown keys {sorted(unknown)}")
    strategy = raw.get("strategy", "browser")
    if strategy not in STRATEGIES:
        raise r.fail(f"{key}.strategy", f"must be one of {', '.join(STRATEGIES)}")
    url = raw.get("url")
    if url is not None and url not in urls:
        raise r.fail(f"{key}.url", f"names no template in [urls] ({url!r})")
    if "api" in raw:
        if url is None:
            raise r.fail(f"{key}.api", "needs `url` (the api is the JSON source of that URL)")
        urls.setdefault(f"{url}_api", r.text(raw["api"], f"{key}.api"))
    groups: dict[str, dict[str, Any]] = {}
    contract = PAGE_CONTRACT[name]
    for group in ("selectors", "fields", "row_actions", "outcomes"):
        groups[group] = r.table(raw, key, group, required=group == "selectors")
        names = contract.get(group, ())
        for wanted in names:
            if not wanted.endswith("?") and wanted not in groups[group]:
                raise r.fail(f"{key}.{group}.{wanted}", "missing (the agent reads it)")
    if strategy == "json":
        if url is None or f"{url}_api" not in urls:
            raise r.fail(f"{key}.api", "a JSON page needs `url` and an `api` (or a `<url>_api` URL template)")
        json_fields = r.table(raw, key, "json_fields")
        if "csrf_header" in raw and "csrf_token" not in groups["selectors"]:
            raise r.fail(f"{key}.selectors.csrf_token", "needed by csrf_header (where to read the token)")
        for wanted in contract.get("fields", ()):
            if not wanted.endswith("?") and wanted not in json_fields:
                raise r.fail(f"{key}.json_fields.{wanted}", "missing (the agent reads it)")
    else:
        json_fields = r.table(raw, key, "json_fields", required=False)
    return PageSpec(
        name=name,
        url=url,
        strategy=cast(Strategy, strategy),
        selectors={n: r.selector(n, v, f"{key}.selectors.{n}") for n, v in groups["selectors"].items()},
        fields={n: r.selector(n, v, f"{key}.fields.{n}") for n, v in groups["fields"].items()},
        row_actions={n: r.selector(n, v, f"{key}.row_actions.{n}") for n, v in groups["row_actions"].items()},
        outcomes={n: r.outcome(n, v, f"{key}.outcomes.{n}") for n, v in groups["outcomes"].items()},
        items=str(raw.get("items", "items")),
        total=_opt_str(raw.get("total")),
        pages=_opt_str(raw.get("pages")),
        json_fields={n: r.text(v, f"{key}.json_fields.{n}") for n, v in json_fields.items()},
        csrf_header=_opt_str(raw.get("csrf_header")),
    )


def _opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None
