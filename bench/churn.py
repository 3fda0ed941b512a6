"""Churn benchmark: one seller churning as hard as it can must leave honest sellers' p99 under 1 s.

What the churning seller does (the attacks of issue 8, section 3): it files 10,000 reports with its first
snapshot, then, from several connections at once and without pause, flips the reason of all of them
(`PUT` of the whole set with another reason), withdraws them all and files them again, and posts batches of
1,000 reason flips. The hub's defaults bound it: the daily budget pays for every re-filing and reason change,
the write budget for every item written, the request rate limit for every request (429 with Retry-After,
which the churner ignores). Meanwhile honest sellers each post one new report every 0.2 s; the benchmark
records their latency, first alone (baseline), then with the churner.

Run: `.venv/bin/python bench/churn.py` (SQLite and PostgreSQL, 30 s each) or `--quick` (10 s, SQLite).
The hub is `blacklist-hub serve` with its default settings (publication threshold 2, batches every 2 s),
on loopback. Exit status 0 when the honest p99
stays under 1 s everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hub_server import hub_server, postgres_database, run_hub_command, sqlite_database

logger = logging.getLogger("churn")

CHURN_REPORTS = 10_000
HONEST_SELLERS = 16  # 20 POSTs a second in all, each seller within the per-seller limit (120 a minute)
HONEST_PERIOD = 0.8
CHURN_CONNECTIONS = 4
TARGET_P99 = 1.0
REASONS = ("fraud", "chargeback", "dispute_abuse", "non_payment")


def churn_reports(flip: int) -> list[dict[str, Any]]:
    return [
        {"member_id": f"c{n:06d}", "name": f"Buyer {n}", "reason": REASONS[(n + flip) % len(REASONS)]}
        for n in range(CHURN_REPORTS)
    ]


@functools.lru_cache(maxsize=64)
def churn_body(flip: int, batch: int | None = None) -> bytes:
    """A churner request's JSON, encoded once: the churner's own CPU is not the hub's to pay, and on a
    2-core machine shared with the hub, encoding 10,000 reports per request would be the load generator
    competing with what it measures."""
    reports = churn_reports(flip)
    if batch is not None:
        reports = reports[batch * 1000 : (batch + 1) * 1000]
    return json.dumps({"reports": reports}).encode()


JSON = {"Content-Type": "application/json"}


@dataclass
class Phase:
    name: str
    honest: list[float] = field(default_factory=list)
    honest_refusals: Counter[str] = field(default_factory=Counter)  # status and detail of each error
    churn: Counter[int | str] = field(default_factory=Counter)
    feed_changes: int = 0

    @property
    def honest_errors(self) -> int:
        return sum(self.honest_refusals.values())

    def p(self, q: float) -> float:
        if not self.honest:
            return float("nan")
        ordered = sorted(self.honest)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def honest_seller(client: httpx.AsyncClient, token: str, tag: str, phase: Phase, until: float) -> None:
    n = 0
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(tag)
    await asyncio.sleep(rng.uniform(0, HONEST_PERIOD))  # sellers are not in step with each other
    while time.monotonic() < until:
        body = {"reports": [{"member_id": f"h{tag}{n:06d}", "name": f"Honest {n}", "reason": "fraud"}]}
        started = time.perf_counter()
        response = await client.post("/v1/reports", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code == 200:
            phase.honest.append(elapsed)
        else:
            phase.honest_refusals[f"{response.status_code} {response.text[:80]}"] += 1
        n += 1
        await asyncio.sleep(max(0.0, rng.uniform(0.5, 1.5) * HONEST_PERIOD - elapsed))


async def churner(client: httpx.AsyncClient, token: str, lane: int, phase: Phase, until: float) -> None:
    headers = {"Authorization": f"Bearer {token}", **JSON}
    flip = lane
    while time.monotonic() < until:
        try:
            await churn_once(client, headers, flip := flip + 1, phase)
        except httpx.TransportError:  # refused before its body was read: the hub closed the connection
            phase.churn["closed"] += 1


async def churn_once(client: httpx.AsyncClient, headers: dict[str, str], flip: int, phase: Phase) -> None:
    step = flip % 3
    variant = flip % len(REASONS)
    if step == 0:
        response = await client.put("/v1/reports", content=churn_body(variant), headers=headers)
    elif step == 1:
        response = await client.put("/v1/reports", content=b'{"reports": []}', headers=headers)
        phase.churn[response.status_code] += 1
        response = await client.put("/v1/reports", content=churn_body(variant), headers=headers)
    else:
        body = churn_body(variant, flip % 10)
        response = await client.post("/v1/reports", content=body, headers=headers)
    phase.churn[response.status_code] += 1


async def feed_last_seq(client: httpx.AsyncClient) -> int:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("hub_feed_last_seq "):
            return int(float(line.split()[1]))
    return 0


async def run_phase(
    base_url: str, tokens: list[str], churn_token: str | None, seconds: float, name: str
) -> Phase:
    phase = Phase(name)
    limits = httpx.Limits(max_connections=HONEST_SELLERS + CHURN_CONNECTIONS + 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        before = await feed_last_seq(client)
        until = time.monotonic() + seconds
        tasks = [honest_seller(client, t, f"{name[0]}{i}", phase, until) for i, t in enumerate(tokens)]
        if churn_token is not None:
            tasks += [churner(client, churn_token, lane, phase, until) for lane in range(CHURN_CONNECTIONS)]
        await asyncio.gather(*tasks)
        await asyncio.sleep(3)  # the last publication
        phase.feed_changes = await feed_last_seq(client) - before
    return phase


def add_seller(url: str, name: str) -> str:
    return run_hub_command(url, "seller", "add", name, "--store-id", name).strip()


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    with sqlite_database() if kind == "sqlite" else postgres_database() as url:
        yield url


def run(kind: str, seconds: float) -> tuple[Phase, Phase]:
    with database(kind) as url:
        run_hub_command(url, "migrate")
        honest = [add_seller(url, f"honest-{i}") for i in range(HONEST_SELLERS)]
        churn = add_seller(url, "churner")
        baseline_tokens = [add_seller(url, f"baseline-{i}") for i in range(HONEST_SELLERS)]
        with hub_server(url, env={"BLACKLIST_HUB_PUBLISH_MIN_REPORTERS": "2"}) as hub:  # the defaults
            first = httpx.put(
                f"{hub.base_url}/v1/reports",
                json={"reports": churn_reports(0)},
                headers={"Authorization": f"Bearer {churn}"},
                timeout=120,
            )
            first.raise_for_status()
            time.sleep(5)  # its publication (no feed change: one reporter each) before the baseline
            baseline = asyncio.run(run_phase(hub.base_url, baseline_tokens, None, seconds / 2, "baseline"))
            churned = asyncio.run(run_phase(hub.base_url, honest, churn, seconds, "churn"))
    return baseline, churned


def report(kind: str, phases: tuple[Phase, Phase]) -> bool:
    ok = True
    for phase in phases:
        met = phase.p(0.99) < TARGET_P99 and phase.honest_errors == 0
        ok = ok and met
        churn = ", ".join(f"{code}: {n}" for code, n in sorted(phase.churn.items(), key=str)) or "-"
        print(
            f"{kind:<10} {phase.name:<8} honest POSTs {len(phase.honest):>4} (errors {phase.honest_errors}), "
            f"p50 {phase.p(0.5) * 1000:7.1f} ms, p99 {phase.p(0.99) * 1000:7.1f} ms, "
            f"max {max(phase.honest, default=0) * 1000:7.1f} ms, "
            f"mean {statistics.fmean(phase.honest or [0]) * 1000:6.1f} ms"
            f" | churner requests by status: {churn} | feed changes {phase.feed_changes}"
            f" | {'met' if met else 'MISSED'}"
        )
        for refusal, count in phase.honest_refusals.most_common():
            print(f"    honest error x{count}: {refusal}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10 s on SQLite only")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default=None)
    parser.add_argument("--seconds", type=float, default=None, help="length of the churn phase")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the figures
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    which = args.database or ("sqlite" if args.quick else "both")
    kinds = ["sqlite", "postgres"] if which == "both" else [which]
    ok = True
    for kind in kinds:
        ok = report(kind, run(kind, seconds)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
