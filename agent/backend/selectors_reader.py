"""Validate a decoded selectors file into `SiteSelectors`, naming the file and dotted key of any problem.

Everything that can be checked without the site is checked here, once, at load: the names the page objects
read, every CSS selector (parsed by the same parser that reads the pages), every regular expression, every
date format and timezone, every URL template's placeholders, and which strategies and pagination modes fit
together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, cast

from selectolax.lexbor import LexborHTMLParser

from agent.backend.selectors import (
    OPTIONAL_PAGES,
    PAGE_CONTRACT,
    PAGINATION_MODES,
    STRATEGIES,
    TABLE_PAGES,
    URL_PARAMS,
    ActionStrategy,
    JsonField,
    Outcome,
    PageSpec,
    Pagination,
    PaginationMode,
    Selector,
    SiteSelectors,
    Strategy,
    placeholders,
)
from agent.backend.values import ISO, ValueRule, check_date_format, parse_timezone
from agent.errors import ConfigError

_URL_ROLES = ("url", "blacklisted_url", "since_url")
_API_ROLES = {"url": "api", "blacklisted_url": "blacklisted_api", "since_url": "since_api"}
_PAGE_KEYS = frozenset(
    {
        *_URL_ROLES,
        *_API_ROLES.values(),
        "strategy",
        "action_strategy",
        "selectors",
        "fields",
        "row_actions",
        "outcomes",
        "pagination",
        "items",
        "total",
        "pages",
        "json_fields",
        "csrf_header",
        "created_after",
        "description",
    }
)
_FIELD_KEYS = frozenset({"css", "optional", "attr", "pattern", "map", "default", "format"})
_REQUIRED_PLACEHOLDERS = {
    ("order_detail", "url"): ("order_id",),
    ("buyer", "url"): ("member_id",),
    ("blacklist_confirm", "url"): ("member_id", "name"),
    ("orders", "since_url"): ("created_after",),
}
_PROBE = LexborHTMLParser("<html><body></body></html>")


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

    def css(self, value: Any, key: str) -> str:
        css = self.text(value, key)
        try:
            _PROBE.css(css)
        except Exception:  # selectolax raises its own error type for a selector it cannot parse
            raise self.fail(
                key,
                f"{css!r} is not a CSS selector the agent can read (plain CSS only, no Playwright pseudos)",
            ) from None
        return css

    def regex(self, value: Any, key: str) -> re.Pattern[str]:
        try:
            return re.compile(self.text(value, key))
        except re.error as exc:
            raise self.fail(key, f"not a valid regular expression: {exc}") from None

    def formats(self, value: Any, key: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise self.fail(key, "must be a date format or a list of them")
        for i, fmt in enumerate(items):
            try:
                check_date_format(self.text(fmt, key))
            except ValueError as exc:
                raise self.fail(key if len(items) == 1 else f"{key}[{i}]", str(exc)) from None
        return tuple(items)

    def zone(self, value: Any, key: str) -> tzinfo:
        try:
            return parse_timezone(self.text(value, key))
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def rule(self, value: Mapping[str, Any], key: str) -> ValueRule:
        pattern = self.regex(value["pattern"], f"{key}.pattern") if "pattern" in value else None
        words = value.get("map", {})
        if not isinstance(words, Mapping) or not all(isinstance(v, str) for v in words.values()):
            raise self.fail(f"{key}.map", 'must be a table of "site word" = "value"')
        default = value.get("default")
        if default is not None and not isinstance(default, str):
            raise self.fail(f"{key}.default", "must be a string")
        return ValueRule(pattern, dict(words), default)

    def selector(self, name: str, value: Any, key: str, *, field: bool = False) -> Selector:
        if isinstance(value, str):
            return Selector(name, self.css(value, key))
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a CSS string or a table with `css`")
        allowed = _FIELD_KEYS if field else {"css", "optional", "attr"}
        unknown = set(value) - allowed
        if unknown:
            raise self.fail(key, f"unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
        optional = value.get("optional", False)
        if not isinstance(optional, bool):
            raise self.fail(f"{key}.optional", "must be true or false")
        attr = value.get("attr")
        if attr is not None:
            attr = self.text(attr, f"{key}.attr")
        formats = self.formats(value["format"], f"{key}.format") if "format" in value else ()
        return Selector(
            name, self.css(value.get("css"), f"{key}.css"), optional, attr, self.rule(value, key), formats
        )

    def json_field(self, name: str, value: Any, key: str) -> JsonField:
        if isinstance(value, str):
            return JsonField(name, self.text(value, key))
        if not isinstance(value, Mapping) or set(value) - {"key", "pattern", "map", "default", "format"}:
            raise self.fail(key, "must be a JSON key or a table with `key` (and `pattern`, `map`, `format`)")
        formats = self.formats(value["format"], f"{key}.format") if "format" in value else ()
        return JsonField(name, self.text(value.get("key"), f"{key}.key"), self.rule(value, key), formats)

    def outcome(self, name: str, value: Any, key: str) -> Outcome:
        if isinstance(value, str):
            return Outcome(name, self.css(value, key))
        if not isinstance(value, Mapping) or set(value) - {"css", "text"}:
            raise self.fail(key, "must be a CSS string or a table with `css` and optional `text`")
        pattern = self.regex(value["text"], f"{key}.text") if "text" in value else None
        return Outcome(name, self.css(value.get("css"), f"{key}.css"), pattern)


def parse_selectors(data: Mapping[str, Any], *, source: str) -> SiteSelectors:
    r = _Reader(source)
    site = r.table(data, "", "site")
    unknown_site = set(site) - {"name", "layout", "description", "timezone", "date_formats"}
    if unknown_site:
        raise r.fail("site", f"unknown keys {sorted(unknown_site)}")
    zone = r.zone(site.get("timezone", "UTC"), "site.timezone")
    date_formats = r.formats(site["date_formats"], "site.date_formats") if "date_formats" in site else (ISO,)
    urls_raw = r.table(data, "", "urls", required=False)
    urls = {name: r.text(value, f"urls.{name}") for name, value in urls_raw.items()}
    pages_raw = r.table(data, "", "pages")
    pages: dict[str, PageSpec] = {}
    for page_name in pages_raw:
        if page_name not in PAGE_CONTRACT:
            raise r.fail(f"pages.{page_name}", f"unknown page; known pages: {', '.join(PAGE_CONTRACT)}")
        raw = r.table(pages_raw, "pages", page_name)
        pages[page_name] = _parse_page(r, page_name, raw, urls, zone)
    for page_name in PAGE_CONTRACT:
        if page_name not in pages and page_name not in OPTIONAL_PAGES:
            raise r.fail(f"pages.{page_name}", "missing page section")
    return SiteSelectors(
        source=source,
        name=r.text(site.get("name"), "site.name"),
        layout=str(site.get("layout", "")),
        description=str(site.get("description", "")),
        pages=pages,
        timezone=zone,
        date_formats=date_formats,
    )


def _url(r: _Reader, value: Any, key: str, urls: Mapping[str, str]) -> str:
    """A template written in place (it has a `/`), or the name of one in `[urls]`."""
    text = r.text(value, key)
    if "/" in text:
        return text
    if text not in urls:
        example = "/list?page={page}"
        raise r.fail(key, f"names no template in [urls] ({text!r}); or write a path like {example!r}")
    return urls[text]


def _page_urls(r: _Reader, name: str, raw: Mapping[str, Any], urls: Mapping[str, str]) -> dict[str, str]:
    key = f"pages.{name}"
    wanted = PAGE_CONTRACT[name].get("urls", ())
    allowed = {w.rstrip("?") for w in wanted}
    out: dict[str, str] = {}
    for role in (*_URL_ROLES, *_API_ROLES.values()):
        if role not in raw:
            continue
        base_role = next((u for u, a in _API_ROLES.items() if a == role), role)
        if base_role not in allowed:
            reads = ", ".join(sorted(allowed)) or "none"
            raise r.fail(f"{key}.{role}", f"page {name!r} has no such URL (it reads {reads})")
        out[role] = _url(r, raw[role], f"{key}.{role}", urls)
    for role in wanted:
        if not role.endswith("?") and role not in out:
            raise r.fail(f"{key}.{role}", "missing URL (the agent opens it)")
    for role, template in out.items():
        extra = placeholders(template) - URL_PARAMS.get(name, frozenset())
        if extra:
            known = ", ".join(f"{{{p}}}" for p in sorted(URL_PARAMS.get(name, ()))) or "none"
            raise r.fail(f"{key}.{role}", f"unknown placeholder {{{sorted(extra)[0]}}} (known here: {known})")
        base_role = next((u for u, a in _API_ROLES.items() if a == role), role)
        for needed in _REQUIRED_PLACEHOLDERS.get((name, base_role), ()):
            if needed not in placeholders(template):
                raise r.fail(f"{key}.{role}", f"must contain {{{needed}}}")
    return out


def _pagination(r: _Reader, name: str, raw: Mapping[str, Any], urls: dict[str, str]) -> Pagination:
    key = f"pages.{name}.pagination"
    value = raw.get("pagination", {})
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, Mapping) or set(value) - {"mode", "first", "size"}:
        raise r.fail(key, "must be a mode name or a table with `mode`, `first`, `size`")
    mode = value.get("mode", "page")
    if mode not in PAGINATION_MODES:
        raise r.fail(f"{key}.mode", f"must be one of {', '.join(PAGINATION_MODES)}")
    first, size = value.get("first", 1), value.get("size")
    if not isinstance(first, int) or first < 0:
        raise r.fail(f"{key}.first", "must be 0 or 1 (the number of the first page)")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise r.fail(f"{key}.size", "must be a positive number of rows")
    needed = {"page": "page", "offset": "offset", "next_link": None}[mode]
    for role in ("url", "blacklisted_url", "since_url", "api", "blacklisted_api", "since_api"):
        if role not in urls:
            continue
        used = placeholders(urls[role])
        if needed and needed not in used:
            raise r.fail(f"pages.{name}.{role}", f"must contain {{{needed}}} (pagination mode {mode!r})")
        if ({"offset", "limit"} & used) and size is None:
            raise r.fail(f"{key}.size", "needed by {offset}/{limit} in the URLs (rows per page)")
    return Pagination(cast(PaginationMode, mode), first, size)


def _parse_page(r: _Reader, name: str, raw: dict[str, Any], urls: dict[str, str], zone: tzinfo) -> PageSpec:
    key = f"pages.{name}"
    unknown = set(raw) - _PAGE_KEYS
    if unknown:
        raise r.fail(key, f"unknown keys {sorted(unknown)}")
    strategy = raw.get("strategy", "browser")
    if strategy not in STRATEGIES:
        raise r.fail(f"{key}.strategy", f"must be one of {', '.join(STRATEGIES)}")
    action_strategy = raw.get("action_strategy", "http" if strategy == "http" else "browser")
    if action_strategy not in ("http", "browser"):
        raise r.fail(f"{key}.action_strategy", "must be http or browser")
    page_urls = _page_urls(r, name, raw, urls)
    groups: dict[str, dict[str, Any]] = {}
    contract = PAGE_CONTRACT[name]
    for group in ("selectors", "fields", "row_actions", "outcomes"):
        groups[group] = r.table(raw, key, group, required=group == "selectors")
        names = contract.get(group, ())
        for wanted in names:
            if not wanted.endswith("?") and wanted not in groups[group]:
                raise r.fail(f"{key}.{group}.{wanted}", "missing (the agent reads it)")
    pagination = _pagination(r, name, raw, page_urls) if name in TABLE_PAGES else Pagination()
    if pagination.mode == "next_link" and "next_page" not in groups["selectors"]:
        raise r.fail(f"{key}.selectors.next_page", "needed by pagination mode 'next_link'")
    if strategy == "json":
        if name not in TABLE_PAGES:
            raise r.fail(f"{key}.strategy", "only the customers and orders tables can be read as JSON")
        if pagination.mode == "next_link":
            raise r.fail(f"{key}.pagination.mode", "a JSON page is addressed by page or offset")
        for role, api in _API_ROLES.items():
            if role in page_urls and api not in page_urls:
                raise r.fail(f"{key}.{api}", f"a JSON page needs the endpoint behind its {role}")
        json_raw = r.table(raw, key, "json_fields")
        if "csrf_header" in raw and "csrf_token" not in groups["selectors"]:
            raise r.fail(f"{key}.selectors.csrf_token", "needed by csrf_header (where to read the token)")
        for wanted in contract.get("fields", ()):
            if not wanted.endswith("?") and wanted not in json_raw:
                raise r.fail(f"{key}.json_fields.{wanted}", "missing (the agent reads it)")
    else:
        json_raw = r.table(raw, key, "json_fields", required=False)
    created_after = r.table(raw, key, "created_after", required=False)
    if set(created_after) - {"format", "timezone"}:
        raise r.fail(f"{key}.created_after", "takes `format` and `timezone`")
    after_format, after_zone = ISO, zone
    if "format" in created_after:
        after_format = r.formats(created_after["format"], f"{key}.created_after.format")[0]
    if "timezone" in created_after:
        after_zone = r.zone(created_after["timezone"], f"{key}.created_after.timezone")
    return PageSpec(
        name=name,
        urls=page_urls,
        strategy=cast(Strategy, strategy),
        action_strategy=cast(ActionStrategy, action_strategy),
        selectors={
            n: r.selector(n, v, f"{key}.selectors.{n}", field=True) for n, v in groups["selectors"].items()
        },
        fields={n: r.selector(n, v, f"{key}.fields.{n}", field=True) for n, v in groups["fields"].items()},
        row_actions={n: r.selector(n, v, f"{key}.row_actions.{n}") for n, v in groups["row_actions"].items()},
        outcomes={n: r.outcome(n, v, f"{key}.outcomes.{n}") for n, v in groups["outcomes"].items()},
        pagination=pagination,
        items=str(raw.get("items", "items")),
        total=_opt_str(raw.get("total")),
        pages=_opt_str(raw.get("pages")),
        json_fields={n: r.json_field(n, v, f"{key}.json_fields.{n}") for n, v in json_raw.items()},
        csrf_header=_opt_str(raw.get("csrf_header")),
        created_after_format=after_format,
        created_after_timezone=after_zone,
        source=r.source,
    )


def _opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None
