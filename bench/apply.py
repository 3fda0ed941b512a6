"""Benchmark: blacklist 200 buyers by link (confirmation page, then *Confirm*) at 50 ms mock latency.

Compares, in one run: the backend driver (`blacklist_many`), a naive baseline (one browser page, full page
loads with nothing blocked: `goto` the link, click *Confirm*, wait for load), a plain HTTP client doing the
same requests without a browser, and the network lower bound (2 requests per buyer x latency / concurrency).
Usage: `.venv/bin/python bench/apply.py [--buyers N] [--naive-buyers M]`; the naive baseline handles the
first M buyers and is extrapolated linearly (it takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from urllib.parse import quote

import httpx
import psutil
from _driver_common import (
    Mock,
    PeakMemory,
    mock_backend,
    naive_browser_args,
    naive_login,
    report,
    settings_for,
    timed_plain_http,
)
from playwright.sync_api import sync_playwright
from selectolax.lexbor import LexborHTMLParser

from agent.backend.driver import open_playwright_backend
from agent.models import BlacklistOutcome


def link(member_id: str, name: str) -> str:
    return f"/blacklist/add?memberId={quote(member_id, safe='')}&name={quote(name, safe='')}"


async def plain_http_apply(mock: Mock, buyers: list[tuple[str, str]], concurrency: int) -> float:
    """Confirmation page and form post with httpx and no browser: what this server allows."""

    async def apply(client: httpx.AsyncClient, buyer: tuple[str, str]) -> None:
        page = LexborHTMLParser((await client.get(link(*buyer))).text)
        form = page.css("form#blacklist-confirm-form input")
        data = {i.attributes["name"] or "": i.attributes.get("value") or "" for i in form}
        (await client.post("/blacklist/add", data=data)).raise_for_status()

    return await timed_plain_http(mock, buyers, concurrency, apply)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--naive-buyers", type=int, default=40, help="buyers the naive baseline does (0 = all)"
    )
    args = parser.parse_args()
    naive_count = args.buyers if args.naive_buyers <= 0 else min(args.naive_buyers, args.buyers)

    with mock_backend(customers=2 * args.buyers + naive_count + 50, latency_ms=args.latency_ms) as mock:
        store = mock.store(full=True)
        listed = {e["member_id"] for e in store["blacklist"]}
        free = [(c["member_id"], c["name"]) for c in store["customers"] if c["member_id"] not in listed]
        ours, floor_set, naive_set = (
            free[: args.buyers],
            free[args.buyers : 2 * args.buyers],
            free[2 * args.buyers : 2 * args.buyers + naive_count],
        )
        mock_proc = psutil.Process(mock.process.pid)

        settings = settings_for(mock, concurrency=args.concurrency)
        with (
            PeakMemory(exclude=mock_proc) as driver_mem,
            open_playwright_backend(settings, password=store["password"]) as backend,
        ):
            backend.ensure_session()  # not timed: a scheduled run reuses its saved session
            start = time.perf_counter()
            results = list(backend.blacklist_many(ours))
            driver_s = time.perf_counter() - start
        added = {r.member_id for r in results if r.outcome is BlacklistOutcome.ADDED}
        now_listed = {e["member_id"] for e in mock.store()["blacklist"]}
        if added != {b[0] for b in ours} or not added <= now_listed:
            print(f"driver added {len(added)} of {len(ours)} buyers", file=sys.stderr)
            return 1

        floor_s = asyncio.run(plain_http_apply(mock, floor_set, args.concurrency))

        with PeakMemory(exclude=mock_proc) as naive_mem, sync_playwright() as pw:
            browser = pw.chromium.launch(**naive_browser_args(pw))
            page = browser.new_page()
            naive_login(page, mock)
            start = time.perf_counter()
            for member_id, name in naive_set:
                page.goto(mock.url + link(member_id, name), wait_until="load")
                with page.expect_navigation(wait_until="load"):
                    page.click("#confirm-button")
                if page.locator("#result-added").count() != 1:
                    print(f"naive baseline failed on {member_id}", file=sys.stderr)
                    return 1
            naive_measured = time.perf_counter() - start
            browser.close()
        naive_s = naive_measured * args.buyers / naive_count
        note = (
            f"measured on all {args.buyers} buyers"
            if naive_count == args.buyers
            else f"measured {naive_measured:.2f} s on {naive_count} of {args.buyers} buyers, "
            "extrapolated linearly"
        )

    ok = report(
        f"apply: blacklist {args.buyers} buyers by link, {args.latency_ms} ms latency",
        driver_s=driver_s,
        naive_s=naive_s,
        naive_note=note,
        requests=2 * args.buyers,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        driver_mem=driver_mem,
        naive_mem=naive_mem,
        floor_s=floor_s,
        extra=f"driver: {len(added)} added, verified in the mock's state",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
