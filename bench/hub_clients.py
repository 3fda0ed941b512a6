"""The measured client workloads of the hub load benchmark: full pulls, delta pulls, 304s, snapshots.

Each workload talks HTTP to a running hub exactly as agents do (bearer token, JSON, `If-None-Match`)
and returns plain figures. Concurrent clients are asyncio tasks, each with its own keep-alive connection; the
high-rate workloads (delta pulls, 304s) use the lean client of `bench.hub_http`, because a client
process parsing HTTP with httpx is itself the bottleneck on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.hub_http import Connection

FEED_PAGE_MAX = 5000
REASONS = ("fraud", "dispute_abuse", "chargeback", "non_payment", "abusive", "unspecified")


def member_id(n: int) -> str:
    return f"m{n:07d}"


def report(n: int, reason_offset: int = 0) -> dict[str, Any]:
    return {"member_id": member_id(n), "name": f"Buyer {n}", "reason": REASONS[(n + reason_offset) % 6]}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class FullPull:
    seconds: float
    entries: int
    pages: int
    next_cursor: int
    client_cpu_seconds: float  # this process: receiving and decoding the JSON pages, as an agent does


@dataclass(frozen=True)
class Latencies:
    """Per-request latencies of one workload, in seconds, plus its wall time and failures."""

    samples: list[float]
    wall_seconds: float
    failures: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return len(self.samples) / self.wall_seconds if self.wall_seconds else 0.0


@dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float
    unexpected: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120)


async def full_pull(base_url: str, token: str, *, limit: int = FEED_PAGE_MAX) -> FullPull:
    """Pull the whole feed from cursor 0 at the maximum page size, as a new agent does."""
    async with _client(base_url, 1) as client:
        cursor, entries, pages = 0, 0, 0
        started, cpu_started = time.perf_counter(), time.process_time()
        while True:
            response = await client.get(
                "/v1/feed", params={"cursor": cursor, "limit": limit}, headers=auth(token)
            )
            response.raise_for_status()
            page = response.json()
            pages += 1
            entries += sum(1 for change in page["changes"] if not change["deleted"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        return FullPull(
            time.perf_counter() - started, entries, pages, cursor, time.process_time() - cpu_started
        )


async def concurrent_full_pulls(
    base_url: str, tokens: Sequence[str], *, limit: int = FEED_PAGE_MAX
) -> Latencies:
    """Several new agents pulling the whole feed at the same moment; one sample per agent."""
    started = time.perf_counter()
    pulls = await asyncio.gather(*(full_pull(base_url, token, limit=limit) for token in tokens))
    return Latencies([pull.seconds for pull in pulls], time.perf_counter() - started, 0)


async def delta_pulls(
    base_url: str,
    tokens: Sequence[str],
    head: int,
    *,
    requests: int,
    concurrency: int,
    max_behind: int,
    seed: int = 1,
) -> Latencies:
    """Agents that are up to `max_behind` changes behind the head pull what they missed.

    Latency runs from sending the request to the last byte of the JSON page.
    """
    rng = random.Random(seed)
    plan = [(rng.choice(tokens), max(0, head - rng.randint(1, max_behind))) for _ in range(requests)]
    samples: list[float] = []
    failures = 0

    async def worker(mine: list[tuple[str, int]]) -> None:
        nonlocal failures
        connection = await Connection.open(base_url)
        try:
            for token, cursor in mine:
                request = connection.prepare("/v1/feed", {"cursor": cursor}, auth(token))
                t0 = time.perf_counter()
                reply = await connection.send(request)
                samples.append(time.perf_counter() - t0)
                failures += reply.status != 200
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(plan[i::concurrency]) for i in range(concurrency)))
    return Latencies(samples, time.perf_counter() - started, failures)


async def _conditional_pulls(
    base_url: str, tokens: Sequence[str], cursor: int, etag: str, seconds: float, concurrency: int
) -> Throughput:
    done, unexpected = 0, 0
    stop_at = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done, unexpected
        connection = await Connection.open(base_url)
        # Each worker stands for many agents (each polling rarely), so it cycles through its share of
        # the sellers' tokens, as the hub sees it in production; one token would also hit the rate limit.
        mine = tokens[index::concurrency] or tokens[index % len(tokens) :][:1]
        requests = [
            connection.prepare("/v1/feed", {"cursor": cursor}, {**auth(token), "If-None-Match": etag})
            for token in mine
        ]
        sent = 0
        try:
            while time.perf_counter() < stop_at:
                reply = await connection.send(requests[sent % len(requests)])
                sent += 1
                done += 1
                unexpected += reply.status != 304
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return Throughput(done, time.perf_counter() - started, unexpected)


def _conditional_pulls_process(args: tuple[str, list[str], int, str, float, int]) -> Throughput:
    return asyncio.run(_conditional_pulls(*args))


def conditional_pulls(
    base_url: str, tokens: Sequence[str], cursor: int, *, seconds: float, concurrency: int, processes: int = 1
) -> Throughput:
    """Up-to-date agents asking "anything new?" with `If-None-Match`; every answer should be a 304.

    The ETag is fetched once with a plain GET at `cursor` (what each agent stored after its last pull).
    Each client uses its own seller's token, as real agents do.
    """
    response = httpx.get(
        f"{base_url}/v1/feed", params={"cursor": cursor}, headers=auth(tokens[0]), timeout=30
    )
    response.raise_for_status()
    etag = response.headers["ETag"]
    per_process = max(1, concurrency // processes)
    shares = [list(tokens[i::processes]) or list(tokens) for i in range(processes)]
    jobs = [(base_url, share, cursor, etag, seconds, per_process) for share in shares]
    if processes == 1:
        results = [_conditional_pulls_process(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_conditional_pulls_process, jobs)
    return Throughput(
        requests=sum(r.requests for r in results),
        seconds=max(r.seconds for r in results),
        unexpected=sum(r.unexpected for r in results),
    )


def snapshot(base_url: str, token: str, reports: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    """One `PUT /v1/reports` (a seller's "share all"); returns its wall time and the hub's counts."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        started = time.perf_counter()
        response = client.put("/v1/reports", json={"reports": reports}, headers=auth(token))
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    counts: dict[str, int] = response.json()
    return elapsed, counts
