"""Page objects: one class per page of the seller backend, reading selectors by name only.

A page object knows what its page means (which rows, which outcome, which form to submit) and nothing about
how the page was fetched: reading works on a `PageView` (HTML from `context.request` or from a rendered
browser page); the few actions that need a live browser (typing a password, clicking through a JavaScript
confirmation) take a Playwright `Page`. Plain models come out; Playwright types never leave this package.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urljoin

from playwright.async_api import Page, Response

from agent.backend.html import (
    LAYOUT_HINT,
    Form,
    PageView,
    as_bool,
    as_float,
    as_int,
    clean,
    dig,
)
from agent.backend.selectors import PageSpec, SiteSelectors
from agent.backend.values import Unreadable, format_date, parse_date
from agent.errors import BackendError
from agent.models import BlacklistEntry, BlacklistOutcome, Customer, Order


class PageObject:
    name: ClassVar[str]

    def __init__(self, site: SiteSelectors) -> None:
        self.site = site
        self.spec: PageSpec = site.page(self.name)

    @property
    def strategy(self) -> str:
        """How the page is read: http, json or browser."""
        return self.spec.strategy

    @property
    def action_strategy(self) -> str:
        """How the page's action (a removal, a blacklist button, a confirmation) is carried out."""
        return self.spec.action_strategy

    def url(self, role: str = "url", /, **params: object) -> str:
        """One of the page's own URLs (relative to the backend's base URL), filled with `params`."""
        return self.spec.url(role, **params)

    def view(self, url: str, html: str) -> PageView:
        return PageView(self.spec, url, html)

    def css(self, name: str) -> str:
        return self.spec.selector(name).css

    def date(self, value: str | None, field: str, formats: tuple[str, ...] = ()) -> datetime | None:
        """A date read from the page, in the site's timezone unless it carries its own offset."""
        wanted = formats or self._formats(field)
        try:
            return parse_date(value, wanted, self.site.timezone)
        except Unreadable as exc:
            raise BackendError(
                f"page {self.name!r}: field {field!r} reads {exc}; {LAYOUT_HINT}", page=self.name
            ) from None

    def _formats(self, field: str) -> tuple[str, ...]:
        selector = self.spec.fields.get(field) or self.spec.selectors.get(field)
        json_field = self.spec.json_fields.get(field) if self.spec.strategy == "json" else None
        own = json_field.formats if json_field is not None else selector.formats if selector else ()
        return own or self.site.date_formats


class Listing:
    """One page of a table: its rows as {field: text}, and how to find the next page."""

    def __init__(
        self,
        rows: list[dict[str, str]],
        *,
        has_next: bool,
        page_count: int | None = None,
        total: int | None = None,
        next_url: str | None = None,
        url: str = "",
    ) -> None:
        self.rows = rows
        self.has_next = has_next
        self.page_count = page_count
        self.total = total
        self.next_url = next_url
        self.url = url


class TablePage(PageObject):
    """A paginated table read from HTML (`http`, `browser`) or from its JSON endpoint (`json`)."""

    key_field: ClassVar[str]

    def page_url(self, role: str, index: int, **params: object) -> str:
        """The URL of the table's page at 0-based `index`, however the site counts its pages."""
        return self.url(role, **self.spec.pagination.params(index), **params)

    def api_url(self, role: str, index: int, **params: object) -> str:
        api_role = {"url": "api"}.get(role) or role.replace("_url", "_api")
        return self.url(api_role, **self.spec.pagination.params(index), **params)

    def keys(self, listing: Listing) -> tuple[str, ...]:
        """What identifies the rows of a page (to notice a site showing the same page again)."""
        return tuple(row.get(self.key_field, "") for row in listing.rows)

    def listing(self, view: PageView, index: int) -> Listing:
        view.require("table")
        total = as_int(view.text("total")) if view.exists("total") else None
        rows = view.rows()
        if not rows:
            self._refuse_empty(view, index, total)
        next_url = None
        if view.exists("next_page"):
            href = view.one("next_page").attributes.get("href")
            next_url = urljoin(view.url, href) if href else None
        return Listing(rows, has_next=view.exists("next_page"), total=total, next_url=next_url, url=view.url)

    def _refuse_empty(self, view: PageView, index: int, total: int | None) -> None:
        """No row read: an error unless the page agrees that the list is empty (never a silent `[]`)."""
        row = self.spec.selector("row")
        if index == 0 and total:
            raise view.mismatch(row, f"matched nothing, but the page shows a total of {total}")
        if self.spec.has("empty") and not view.exists("empty"):
            raise view.mismatch(row, "matched nothing, and the page does not show its `empty` marker")
        seen = view.looks_like_rows()
        if seen:
            raise view.mismatch(row, f"matched nothing, but the table holds {seen} row(s)")

    def listing_from_json(self, data: Any, index: int, url: str) -> Listing:
        items = dig(data, self.spec.items)
        if not isinstance(items, list):
            raise BackendError(
                f"page {self.name!r}: JSON has no list at {self.spec.items!r}; {LAYOUT_HINT}",
                page=self.name,
                url=url,
            )
        rows = [self._json_row(item, url) for item in items if isinstance(item, dict)]
        page_count = _as_count(dig(data, self.spec.pages))
        total = _as_count(dig(data, self.spec.total))
        if not rows and index == 0 and total:
            raise BackendError(
                f"page {self.name!r}: the JSON list at {self.spec.items!r} is empty, but its total is "
                f"{total}; {LAYOUT_HINT}",
                page=self.name,
                url=url,
            )
        if page_count is None and total is not None:
            per_page = self.spec.pagination.size or (len(rows) if index == 0 else None)
            page_count = math.ceil(total / per_page) if per_page else None
        has_next = index + 1 < page_count if page_count is not None else bool(rows)
        return Listing(rows, has_next=has_next, page_count=page_count, total=total, url=url)

    def _json_row(self, item: dict[str, Any], url: str) -> dict[str, str]:
        row: dict[str, str] = {}
        for name, spec in self.spec.json_fields.items():
            value = dig(item, spec.key)
            if value is None:
                continue
            try:
                row[name] = spec.rule.apply(_json_text(value))
            except Unreadable as exc:
                raise BackendError(
                    f"page {self.name!r}: JSON field {name!r} ({spec.key}) reads {exc}; {LAYOUT_HINT}",
                    page=self.name,
                    url=url,
                ) from None
        return row


class LoginPage(PageObject):
    name = "login"

    async def submit(self, page: Page, username: str, password: str) -> Response | None:
        """Fill in and send the form; the answer to the form's navigation (its status tells a refusal,
        which comes back as a page, from a server error, which is no answer about the password)."""
        view = self.view(page.url, await page.content())
        view.require("form", "username", "password", "submit")
        await page.locator(self.css("username")).first.fill(username)
        await page.locator(self.css("password")).first.fill(password)
        async with page.expect_navigation(wait_until="domcontentloaded") as navigation:
            await page.locator(self.css("submit")).first.click()
        return await navigation.value

    def shows_form(self, view: PageView) -> bool:
        return view.exists("form") and view.exists("password")

    def refusal(self, view: PageView) -> tuple[str, bool] | None:
        """(message, locked) when the login page refused us, else None."""
        outcome = view.outcome()
        message = view.text("error") if view.exists("error") else ""
        if outcome == "locked":
            return message or "the account is locked", True
        if outcome == "invalid" or message:
            return message or "wrong username or password", False
        return None


class OtpPage(PageObject):
    name = "otp"

    def asks_for_code(self, view: PageView) -> bool:
        return view.exists("form") and view.exists("code")

    async def submit(self, page: Page, code: str) -> None:
        await page.locator(self.css("code")).first.fill(code)
        async with page.expect_navigation(wait_until="domcontentloaded"):
            await page.locator(self.css("submit")).first.click()

    def error(self, view: PageView) -> str:
        message = view.text("error") if view.exists("error") else ""
        return message or "the backend asked for a code again"


class HomePage(PageObject):
    name = "home"

    def is_home(self, view: PageView) -> bool:
        return view.exists("customers_entry")

    def prove(self, view: PageView) -> None:
        view.require("customers_entry")


class CustomersPage(TablePage):
    name = "customers"
    key_field = "member_id"

    def customers(self, listing: Listing) -> list[Customer]:
        return [
            Customer(
                member_id=row["member_id"],
                name=row["name"],
                country=row.get("country", ""),
                orders=as_int(row.get("orders")),
                amount=as_float(row.get("amount")),
                last_order_at=self.date(row.get("last_order_at"), "last_order_at"),
                blacklisted=as_bool(row.get("blacklisted")),
            )
            for row in listing.rows
        ]

    def entries(self, listing: Listing) -> list[BlacklistEntry]:
        return [
            BlacklistEntry(
                row["member_id"], row["name"], self.date(row.get("blacklisted_at"), "blacklisted_at")
            )
            for row in listing.rows
            if "blacklisted" not in row or as_bool(row["blacklisted"])
        ]

    def removal_request(self, view: PageView, member_id: str) -> Form | None:
        """What the row's *Remove* control sends: its link (a GET, often carrying the site's token in its
        query) or its enclosing form; None when the buyer is not on this page."""
        control = view.row_action(member_id, "remove")
        if control is None:
            return None
        href = control.attributes.get("href")
        if control.tag == "a" and href and not href.startswith(("#", "javascript:")):
            return Form(urljoin(view.url, href), "get", {})
        try:
            return view.form(control)
        except ValueError:
            raise view.mismatch(
                self.spec.row_actions["remove"],
                "is neither a link nor inside a form, so it cannot be used over http: set "
                '`action_strategy = "browser"` on [pages.customers] to click it in the browser',
            ) from None

    def remove_css(self) -> str:
        return self.spec.row_actions["remove"].css

    def row_css(self) -> str:
        return self.css("row")

    def member_id_css(self) -> str:
        return self.spec.fields["member_id"].css


class OrdersPage(TablePage):
    name = "orders"
    key_field = "order_id"

    def created_after(self, when: datetime) -> str:
        """`{created_after}` as the site wants it: its format, in its zone."""
        zone = self.spec.created_after_timezone or self.site.timezone
        return format_date(when, self.spec.created_after_format, zone)

    def orders(self, listing: Listing) -> list[Order]:
        out = []
        for row in listing.rows:
            created = self.date(row.get("created_at"), "created_at")
            if created is None:
                raise BackendError(
                    f"page 'orders': unreadable created_at {row.get('created_at')!r}", page=self.name
                )
            out.append(
                Order(
                    order_id=row["order_id"],
                    member_id=row["member_id"],
                    buyer_name=row["buyer_name"],
                    created_at=created,
                    status=row.get("status", ""),
                    amount=as_float(row.get("amount")),
                )
            )
        return out


class OrderDetailPage(PageObject):
    name = "order_detail"

    def buyer(self, view: PageView) -> tuple[str, str]:
        view.require("buyer_block")
        return view.text("member_id"), view.text("buyer_name")

    def blacklist_request(self, view: PageView) -> tuple[str, Form | None]:
        """Where *Add buyer to blacklist* leads: a link to follow (GET) or a form to submit."""
        node = view.one("blacklist_action")
        href = node.attributes.get("href")
        if node.tag == "a" and href:
            return urljoin(view.url, href), None
        try:
            form = view.form(node)
        except ValueError:
            raise view.mismatch(
                self.spec.selector("blacklist_action"),
                "is neither a link nor in a form, so it cannot be used over http: set "
                '`action_strategy = "browser"` on [pages.order_detail] to click it in the browser',
            ) from None
        return form.action, form


class BuyerPage(PageObject):
    name = "buyer"

    def buyer(self, view: PageView) -> tuple[str, str]:
        return view.text("member_id"), view.text("name")


class BlacklistConfirmPage(PageObject):
    name = "blacklist_confirm"

    def link(self, member_id: str, name: str) -> str:
        """The blacklist link for a buyer (the only place it is built)."""
        return self.url("url", member_id=member_id, name=name)

    def early_outcome(self, view: PageView) -> BlacklistOutcome | None:
        """The backend's answer when it gives one instead of the confirmation form."""
        if view.exists("form") and view.exists("confirm"):
            return None
        outcome = view.outcome()
        return BlacklistOutcome(outcome) if outcome else None

    def confirmation(self, view: PageView, member_id: str) -> Form:
        """The form to submit, proven to be for `member_id`; raises before anything changes.

        A page that shows another member id than the one asked for is not the page we think it is (a layout
        change, a redirect): submitting it could blacklist someone else.
        """
        view.require("form", "confirm")
        if self.spec.has("member_id"):
            shown = view.text("member_id")
            if shown != member_id:
                selector = self.spec.selector("member_id")
                raise view.failure(
                    f"selector 'member_id' ({selector.css}) shows {shown!r}, "
                    f"not the requested {member_id!r}; nothing submitted"
                )
        try:
            return view.form(view.one("confirm"))
        except ValueError:
            raise view.mismatch(
                self.spec.selector("confirm"),
                "is not inside a form, so it cannot be submitted over http: set "
                '`action_strategy = "browser"` on [pages.blacklist_confirm] to click it in the browser',
            ) from None

    def name_shown_instead(self, view: PageView, name: str) -> str | None:
        """The name the page shows for the buyer when it is not `name` (compared as pages are read)."""
        if not self.spec.has("name"):
            return None
        shown = view.text("name")  # whitespace collapsed, as HTML shows it
        return shown if shown != clean(name) else None


class BlacklistResultPage(PageObject):
    name = "blacklist_result"

    def outcome(self, view: PageView) -> tuple[BlacklistOutcome, str]:
        outcome = view.outcome()
        if outcome is None:
            raise view.mismatch(self.spec.selector("message"), "shows none of the known outcomes")
        message = view.text("message") if view.exists("message") else ""
        return BlacklistOutcome(outcome), message


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
