"""Page objects: one class per page of the seller backend, reading selectors by name only.

A page object knows what its page means (which rows, which outcome, which form to submit) and nothing about
how the page was fetched: reading works on a `PageView` (HTML from `context.request` or from a rendered
browser page); the few actions that need a live browser (typing a password, clicking through a JavaScript
confirmation) take a Playwright `Page`. Plain models come out; Playwright types never leave this package.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar
from urllib.parse import urljoin

from playwright.async_api import Page

from agent.backend.html import (
    Form,
    PageView,
    as_bool,
    as_datetime,
    as_float,
    as_int,
    clean,
    dig,
)
from agent.backend.selectors import PageSpec, SiteSelectors
from agent.errors import BackendError
from agent.models import BlacklistEntry, BlacklistOutcome, Customer, Order


class PageObject:
    name: ClassVar[str]

    def __init__(self, site: SiteSelectors) -> None:
        self.site = site
        self.spec: PageSpec = site.page(self.name)

    @property
    def strategy(self) -> str:
        return self.spec.strategy

    def view(self, url: str, html: str) -> PageView:
        return PageView(self.spec, url, html)

    def css(self, name: str) -> str:
        return self.spec.selector(name).css


class Listing:
    """One page of a table: its rows as {field: text}, and how to find the next page."""

    def __init__(
        self,
        rows: list[dict[str, str]],
        *,
        has_next: bool,
        page_count: int | None = None,
        total: int | None = None,
    ) -> None:
        self.rows = rows
        self.has_next = has_next
        self.page_count = page_count
        self.total = total


class TablePage(PageObject):
    """A paginated table read from HTML (`http`, `browser`) or from its JSON endpoint (`json`)."""

    def listing(self, view: PageView) -> Listing:
        view.require("table")
        total = as_int(view.text("total")) if view.exists("total") else None
        return Listing(view.rows(), has_next=view.exists("next_page"), total=total)

    def listing_from_json(self, data: Any, page: int, url: str) -> Listing:
        items = dig(data, self.spec.items)
        if not isinstance(items, list):
            raise BackendError(
                f"page {self.name!r}: JSON has no list at {self.spec.items!r}", page=self.name, url=url
            )
        rows = [
            {
                field: _json_text(item.get(key))
                for field, key in self.spec.json_fields.items()
                if item.get(key) is not None
            }
            for item in items
            if isinstance(item, dict)
        ]
        page_count = _as_count(dig(data, self.spec.pages))
        total = _as_count(dig(data, self.spec.total))
        if page_count is None and total is not None:
            per_page = len(rows) if page == 1 else None
            page_count = math.ceil(total / per_page) if per_page else None
        has_next = page < page_count if page_count is not None else bool(rows)
        return Listing(rows, has_next=has_next, page_count=page_count, total=total)


class LoginPage(PageObject):
    name = "login"

    async def submit(self, page: Page, username: str, password: str) -> None:
        view = self.view(page.url, await page.content())
        view.require("form", "username", "password", "submit")
        await page.locator(self.css("username")).first.fill(username)
        await page.locator(self.css("password")).first.fill(password)
        async with page.expect_navigation(wait_until="domcontentloaded"):
            await page.locator(self.css("submit")).first.click()

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

    def customers(self, listing: Listing) -> list[Customer]:
        return [
            Customer(
                member_id=row["member_id"],
                name=row["name"],
                country=row.get("country", ""),
                orders=as_int(row.get("orders")),
                amount=as_float(row.get("amount")),
                last_order_at=as_datetime(row.get("last_order_at")),
                blacklisted=as_bool(row.get("blacklisted")),
            )
            for row in listing.rows
        ]

    def entries(self, listing: Listing) -> list[BlacklistEntry]:
        return [
            BlacklistEntry(row["member_id"], row["name"], as_datetime(row.get("blacklisted_at")))
            for row in listing.rows
            if "blacklisted" not in row or as_bool(row["blacklisted"])
        ]

    def removal_form(self, view: PageView, member_id: str) -> Form | None:
        """The form behind the row's *Remove* control, or None when the buyer is not on this page."""
        control = view.row_action(member_id, "remove")
        if control is None:
            return None
        try:
            return view.form(control)
        except ValueError:
            raise view.mismatch(self.spec.row_actions["remove"], "is not inside a form") from None

    def remove_css(self) -> str:
        return self.spec.row_actions["remove"].css

    def row_css(self) -> str:
        return self.css("row")

    def member_id_css(self) -> str:
        return self.spec.fields["member_id"].css


class OrdersPage(TablePage):
    name = "orders"

    def orders(self, listing: Listing) -> list[Order]:
        out = []
        for row in listing.rows:
            created = as_datetime(row.get("created_at"))
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
                self.spec.selector("blacklist_action"), "is neither a link nor in a form"
            ) from None
        return form.action, form


class BuyerPage(PageObject):
    name = "buyer"

    def buyer(self, view: PageView) -> tuple[str, str]:
        return view.text("member_id"), view.text("name")


class BlacklistConfirmPage(PageObject):
    name = "blacklist_confirm"

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
        return view.form(view.one("confirm"))

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
