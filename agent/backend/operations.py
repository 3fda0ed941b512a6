"""What the agent does on a seller backend, as async steps over a `Runtime`.

Reads stream rows page by page. Changes prove the page before they submit anything (the confirmation
form, the row's removal control) and report what the backend's answer page says, never what was hoped for.
A batch proves the layout on its first buyer before fanning out to `browser.concurrency` workers.
Every step opens its page with the fetcher its selectors file names for that action (agent.backend.fetchers):
nothing here depends on how a page travels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from agent.backend.fetchers import Opened
from agent.backend.html import Form, PageView, clean
from agent.backend.pages import BuyerPage
from agent.backend.runtime import Runtime
from agent.backend.transport import Fetched
from agent.errors import BackendError, BudgetExhausted
from agent.models import BlacklistEntry, BlacklistOutcome, BlacklistResult, Customer, Order, RemovalOutcome

logger = logging.getLogger(__name__)


class Operations:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.layout_proven = False  # a confirmation form was submitted and its result page understood

    # -- reading ---------------------------------------------------------------------------------
    async def blacklist(self) -> list[BlacklistEntry]:
        entries: list[BlacklistEntry] = []
        async for listing in self.rt.paginate(self.rt.customers, "blacklisted_url"):
            entries.extend(self.rt.customers.entries(listing))
        return entries

    async def customers(self) -> AsyncIterator[tuple[list[Customer], int | None]]:
        async for listing in self.rt.paginate(self.rt.customers, "url"):
            yield self.rt.customers.customers(listing), listing.total

    async def orders(self, newer_than: datetime | None) -> list[Order]:
        po = self.rt.orders
        params: dict[str, object] = {}
        role = "url"
        if newer_than is not None and po.spec.has_url("since_url"):
            role, params = "since_url", {"created_after": po.created_after(newer_than)}
        found: list[Order] = []
        async for listing in self.rt.paginate(po, role, **params):
            page_orders = po.orders(listing)
            fresh = [o for o in page_orders if newer_than is None or o.created_at > newer_than]
            found.extend(fresh)
            if len(fresh) < len(page_orders):
                break  # newest first: the rest is older than the watermark
        return found

    async def buyer(self, member_id: str) -> tuple[str, str]:
        po = self.rt.buyer
        if po is None:
            raise BackendError("this selectors file has no buyer page", page="buyer")
        url = self.rt.absolute(po.url("url", member_id=member_id))
        return await self.rt.unit(lambda: self._read_buyer(po, url))

    async def _read_buyer(self, po: BuyerPage, url: str) -> tuple[str, str]:
        async with self.rt.fetcher(po.strategy).opened(po, url) as opened:
            return po.buyer(opened.view)

    # -- blacklisting ----------------------------------------------------------------------------
    async def blacklist_by_link(self, member_id: str, name: str) -> BlacklistResult:
        url = self.rt.absolute(self.rt.confirm.link(member_id, name))
        return await self.rt.unit(lambda: self._confirm_flow(url, member_id, name))

    async def _confirm_flow(self, url: str, member_id: str, name: str) -> BlacklistResult:
        confirm = self.rt.confirm
        async with self.rt.fetcher(confirm.action_strategy).opened(
            confirm, url, allow_error_status=True
        ) as o:
            return await self._confirm(o.view, member_id, name, o)

    async def _confirm(self, view: PageView, member_id: str, name: str, opened: Opened) -> BlacklistResult:
        """Answer from the confirmation page, or prove its form and submit it, then read the result."""
        early = self.rt.confirm.early_outcome(view)
        if early is not None:
            return BlacklistResult(member_id, name, early, _message(view))
        form = self.rt.confirm.confirmation(view, member_id)
        shown = self.rt.confirm.name_shown_instead(view, name)
        if shown is not None:
            # The backend knows this buyer under another name: the same answer as its own "does not match",
            # given before submitting, so the engine records the refusal and moves on (never a failed cycle).
            logger.info("blacklist %s: the confirmation shows another name; nothing submitted", member_id)
            return BlacklistResult(
                member_id,
                name,
                BlacklistOutcome.MISMATCH,
                f"the confirmation page shows the name {shown!r}, not {clean(name)!r}; nothing submitted",
            )
        fetched = await opened.submit(self.rt.confirm, form, self.rt.confirm.css("confirm"))
        outcome, message = self.rt.result.outcome(self.rt.result.view(fetched.url, fetched.text))
        self.layout_proven = True
        logger.info("blacklist %s: %s", member_id, outcome.value)
        return BlacklistResult(member_id, name, outcome, message)

    async def blacklist_many(self, buyers: Sequence[tuple[str, str]]) -> AsyncIterator[BlacklistResult]:
        if not buyers:
            return
        # One buyer at a time until one has gone through the whole confirm-and-submit path: a layout that
        # does not match fails there, before any other change. Then fan out.
        rest = list(buyers)
        self.layout_proven = False  # every batch proves it again: a site can change between two runs
        while rest and not self.layout_proven:
            yield await self.blacklist_by_link(*rest.pop(0))
        if not rest:
            return
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for buyer in rest:
            queue.put_nowait(buyer)
        results: asyncio.Queue[BlacklistResult | Exception | None] = asyncio.Queue()
        stop = asyncio.Event()
        # A buyer costs two requests (the link, the confirmation). Start none that the cycle's request
        # budget cannot finish: a half-done buyer spends budget and changes nothing.
        affordable = self._affordable_buyers()

        async def worker() -> None:
            nonlocal affordable
            try:
                while not queue.empty() and not stop.is_set():
                    member_id, name = queue.get_nowait()
                    if affordable is not None:
                        if affordable <= 0:
                            stop.set()
                            results.put_nowait(self._budget_error(member_id, name))
                            return
                        affordable -= 1
                    try:
                        results.put_nowait(await self.blacklist_by_link(member_id, name))
                    except Exception as exc:  # handed to the consumer, which ends the batch with it
                        stop.set()
                        results.put_nowait(exc)
                        return
            finally:
                results.put_nowait(None)  # this worker is done

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.rt.concurrency, len(rest)))]
        failure: Exception | None = None
        running = len(workers)
        try:
            # Every buyer a worker finished is reported, even after another failed: the change is made.
            while running:
                item = await results.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Exception):
                    failure = failure or item
                else:
                    yield item
            if failure is not None:
                raise failure
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _affordable_buyers(self) -> int | None:
        """How many whole buyers the rest of the cycle's request budget pays for (None: no budget)."""
        budget = getattr(self.rt.transport, "budget", None)
        spent = getattr(self.rt.transport, "spent", None)
        if not isinstance(budget, int) or not isinstance(spent, int):
            return None
        return max(0, budget - spent) // 2

    def _budget_error(self, member_id: str, name: str) -> Exception:
        """What the transport says when the budget is used up, said before a buyer it could not finish."""
        budget = self.rt.transport.budget
        page = self.rt.confirm.name
        return BudgetExhausted(
            f"this cycle's budget of {budget} requests to the seller backend is used up "
            f"(backend.request_budget), at page {page!r}; the rest waits for the next cycle",
            budget=budget,
            page=page,
            url=self.rt.absolute(self.rt.confirm.link(member_id, name)),
        )

    async def blacklist_from_order(self, order_id: str) -> BlacklistResult:
        url = self.rt.absolute(self.rt.order_detail.url("url", order_id=order_id))
        return await self.rt.unit(lambda: self._from_order(url))

    async def _from_order(self, url: str) -> BlacklistResult:
        po = self.rt.order_detail
        async with self.rt.fetcher(po.action_strategy).opened(po, url) as opened:
            member_id, name = po.buyer(opened.view)
            target, form = po.blacklist_request(opened.view)
            fetched = await opened.submit(po, form or Form(target, "get", {}), po.css("blacklist_action"))
            return await self._after_action(fetched, member_id, name, opened)

    async def _after_action(
        self, fetched: Fetched, member_id: str, name: str, opened: Opened
    ) -> BlacklistResult:
        """An order's blacklist action leads to the confirmation page or straight to the result."""
        confirm_view = self.rt.confirm.view(fetched.url, fetched.text)
        if confirm_view.exists("form") and confirm_view.exists("confirm"):
            return await self._confirm(confirm_view, member_id, name, opened)
        outcome, message = self.rt.result.outcome(self.rt.result.view(fetched.url, fetched.text))
        return BlacklistResult(member_id, name, outcome, message)

    # -- removing --------------------------------------------------------------------------------
    async def remove(self, member_id: str) -> RemovalOutcome:
        po = self.rt.customers
        if "remove" not in po.spec.row_actions:
            raise BackendError(
                "the selectors file has no `remove` row action on the customers page", page=po.name
            )
        found = await self._find_blacklisted_page(member_id)
        if found is None:
            return RemovalOutcome.NOT_LISTED
        return await self.rt.unit(lambda: self._remove_on_page(member_id, found))

    async def _find_blacklisted_page(self, member_id: str) -> str | None:
        """The URL of the blacklist page that lists `member_id` (as the HTML pages address it)."""
        po = self.rt.customers
        index = 0
        async for listing in self.rt.paginate(po, "blacklisted_url"):
            if any(row.get("member_id") == member_id for row in listing.rows):
                if po.strategy == "json" or po.spec.pagination.mode != "next_link":
                    return self.rt.absolute(po.page_url("blacklisted_url", index))
                return listing.url
            index += 1
        return None

    async def _remove_on_page(self, member_id: str, url: str) -> RemovalOutcome:
        po = self.rt.customers
        fetcher = self.rt.fetcher(po.action_strategy)
        async with fetcher.opened(po, url) as opened:
            fetched = await opened.row_action(po, member_id, "remove")
        if fetched is None:  # the list moved since we looked: look once more
            moved_to = await self._find_blacklisted_page(member_id)
            if moved_to is None:
                return RemovalOutcome.NOT_LISTED
            async with fetcher.opened(po, moved_to) as opened:
                fetched = await opened.row_action(po, member_id, "remove")
            if fetched is None:
                raise opened.view.failure(f"buyer {member_id} is listed but has no removal control here")
        if po.view(fetched.url, fetched.text).outcome() == "removed":
            logger.info("removed %s from the blacklist", member_id)
            return RemovalOutcome.REMOVED
        if await self._find_blacklisted_page(member_id) is not None:
            raise BackendError(f"buyer {member_id} is still blacklisted after removal", page=po.name, url=url)
        logger.info("removed %s from the blacklist", member_id)
        return RemovalOutcome.REMOVED


def _message(view: PageView) -> str:
    for outcome in view.spec.outcomes.values():
        node = view.tree.css_first(outcome.css)
        if node is not None:
            return clean(node.text())
    return ""
