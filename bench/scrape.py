"""Benchmark: read every customer of a store with 10,000 customers (50 a page) at 50 ms mock latency.

Compares, in one run: the backend driver (`read_customers`), a naive baseline (one browser page, full page
loads with nothing blocked, click *next*, wait for load), and the network lower bound
(pages x latency / concurrency). Usage: `.venv/bin/python bench/scrape.py [--customers N] [--naive-pages P]`.
The naive baseline reads the first P pages and is extrapolated linearly to all pages (it takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time

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

from agent.backend.driver import open_playwright_backend


async def plain_http_read(mock: Mock, pages: int, concurrency: int) -> float:
    """The same page reads with httpx and no browser: what this server allows at this concurrency."""

    async def read(client: httpx.AsyncClient, number: int) -> None:
        (await client.get(f"/customers?page={number}")).raise_for_status()

    return await timed_plain_http(mock, list(range(1, pages + 1)), concurrency, read)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--naive-pages", type=int, default=30, help="pages the naive baseline reads (0 = all)"
    )
    args = parser.parse_args()
    page_size = 50
    pages = math.ceil(args.customers / page_size)

    with mock_backend(customers=args.customers, latency_ms=args.latency_ms, page_size=page_size) as mock:
        expected = len(mock.store(full=True)["customers"])
        pages = math.ceil(expected / page_size)
        password = mock.store()["password"]
        mock_proc = psutil.Process(mock.process.pid)

        # The driver: log in first (not timed: a scheduled run reuses its saved session), then read.
        settings = settings_for(mock, concurrency=args.concurrency)
        with (
            PeakMemory(exclude=mock_proc) as driver_mem,
            open_playwright_backend(settings, password=password) as backend,
        ):
            backend.ensure_session()
            sent_before = backend.requests
            start = time.perf_counter()
            customers = list(backend.read_customers())
            driver_s = time.perf_counter() - start
            driver_requests = backend.requests - sent_before
        if len({c.member_id for c in customers}) != expected:
            print(f"driver read {len(customers)} customers, expected {expected}", file=sys.stderr)
            return 1

        floor_s = asyncio.run(plain_http_read(mock, pages, args.concurrency))

        # The naive baseline: one page, full loads, nothing blocked, click "next", wait for load.
        naive_pages = pages if args.naive_pages <= 0 else min(args.naive_pages, pages)
        with PeakMemory(exclude=mock_proc) as naive_mem, sync_playwright() as pw:
            browser = pw.chromium.launch(**naive_browser_args(pw))
            page = browser.new_page()
            naive_login(page, mock)
            start = time.perf_counter()
            page.goto(f"{mock.url}/customers?page=1", wait_until="load")
            rows = 0
            for number in range(1, naive_pages + 1):
                rows += len(page.locator("table#customers tbody tr td.member-id").all_inner_texts())
                if number < naive_pages:
                    with page.expect_navigation(wait_until="load"):
                        page.click("nav#pagination a.next")
            naive_measured = time.perf_counter() - start
            browser.close()
        naive_s = naive_measured * pages / naive_pages
        note = (
            f"measured on all {pages} pages"
            if naive_pages == pages
            else f"measured {naive_measured:.2f} s on the first {naive_pages} of {pages} pages "
            f"({rows} rows), extrapolated linearly"
        )

    ok = report(
        f"scrape: {expected} customers, {pages} pages of {page_size}, {args.latency_ms} ms latency",
        driver_s=driver_s,
        naive_s=naive_s,
        naive_note=note,
        requests=pages,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        driver_mem=driver_mem,
        naive_mem=naive_mem,
        floor_s=floor_s,
        extra=f"driver sent {driver_requests} requests for {pages} pages (speculative read-ahead included)",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
