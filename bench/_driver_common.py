"""What the backend driver's benchmarks share: a mock backend in a subprocess, a naive browser, a memory
sampler, and the report. Run the benchmarks themselves (`bench/scrape.py`, `bench/apply.py`), not this.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.backend.browser import LAUNCH_ARGS, find_system_chromium  # noqa: E402
from agent.config import Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mock:
    url: str
    process: subprocess.Popen[bytes]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}/__mock__{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def store(self, full: bool = False, store_id: str = "store-a") -> dict[str, Any]:
        params = {"store": store_id, **({"full": "1"} if full else {})}
        stores = self.control("GET", "/state", params=params)["stores"]
        return next(s for s in stores if s["store_id"] == store_id)


@contextmanager
def mock_backend(*, customers: int, latency_ms: int, page_size: int = 50, stores: int = 1) -> Iterator[Mock]:
    """`mock-backend serve` on a free port, in its own process (as a real backend would be)."""
    port = free_port()
    exe = Path(sys.executable).with_name("mock-backend")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "fixtures.mock_backend.cli"]
    command += [
        "serve", "--port", str(port), "--stores", str(stores), "--customers", str(customers),
        "--orders", "10", "--page-size", str(page_size), "--latency-ms", str(latency_ms),
        "--blacklist-capacity", "100000",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/__mock__/state", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mock backend did not start: {' '.join(command)}")
            time.sleep(0.2)
        yield Mock(url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def settings_for(mock: Mock, *, concurrency: int = 4) -> Settings:
    store = mock.store()
    return Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="bench-agent-")),
        backend={"base_url": mock.url, "username": store["login"]},
        browser={"concurrency": concurrency},
    )


class PeakMemory:
    """Peak memory of this process and its descendants (Chromium included), minus `exclude`'s tree.

    RSS is cheap to read and sampled every 0.1 s, but summing it counts pages shared between Chromium's
    processes several times. PSS shares them out fairly but costs ~0.15 s of CPU per sample on this
    machine, so it is sampled only every 2 s: often enough for a peak, rarely enough not to slow the run.
    """

    def __init__(self, exclude: psutil.Process | None = None) -> None:
        self.exclude = {exclude.pid} if exclude else set()
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[psutil.Process]:
        me = psutil.Process(os.getpid())
        excluded = set(self.exclude)
        for pid in self.exclude:
            with suppress(psutil.NoSuchProcess):
                excluded |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        return [p for p in [me, *me.children(recursive=True)] if p.pid not in excluded]

    def _sample(self, *, pss: bool) -> None:
        rss = pss_total = 0
        for proc in self._tree():
            with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss += proc.memory_info().rss
                if pss:
                    pss_total += getattr(proc.memory_full_info(), "pss", 0)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss_total)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(0.1):
            ticks += 1
            self._sample(pss=ticks % 20 == 0)

    def __enter__(self) -> PeakMemory:
        self._sample(pss=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(pss=True)

    def describe(self) -> str:
        pss = f"PSS {self.peak_pss / 1e6:.0f} MB" if self.peak_pss else "PSS n/a"
        return f"{pss} (RSS sum {self.peak_rss / 1e6:.0f} MB)"


async def http_client(mock: Mock) -> httpx.AsyncClient:
    """A logged-in plain HTTP client (no browser at all): the practical floor for this server."""
    from selectolax.lexbor import LexborHTMLParser

    store = mock.store()
    client = httpx.AsyncClient(base_url=mock.url, timeout=60)
    page = LexborHTMLParser((await client.get("/login")).text)
    csrf = page.css_first("form#login-form input[name=_csrf]")
    token = csrf.attributes.get("value") if csrf is not None else ""
    await client.post(
        "/login", data={"username": store["login"], "password": store["password"], "_csrf": token or ""}
    )
    return client


async def timed_plain_http(
    mock: Mock, jobs: list[Any], concurrency: int, job: Callable[[httpx.AsyncClient, Any], Awaitable[None]]
) -> float:
    """Seconds to run `job(client, item)` for every item, `concurrency` at a time, on one logged-in client."""
    import asyncio

    client = await http_client(mock)
    slots = asyncio.Semaphore(concurrency)

    async def bounded(item: Any) -> None:
        async with slots:
            await job(client, item)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(bounded(item) for item in jobs))
        return time.perf_counter() - start
    finally:
        await client.aclose()


def naive_browser_args(pw: Any) -> dict[str, Any]:
    """How the naive baseline launches: same Chromium as the driver, nothing blocked, one page."""
    if Path(pw.chromium.executable_path).is_file():
        return {"headless": True, "args": LAUNCH_ARGS}
    system = find_system_chromium()
    return {"headless": True, "args": LAUNCH_ARGS, "executable_path": str(system) if system else None}


def naive_login(page: Any, mock: Mock, store_id: str = "store-a") -> None:
    store = mock.store(store_id=store_id)
    page.goto(f"{mock.url}/login", wait_until="load")
    page.fill("#username", store["login"])
    page.fill("#password", store["password"])
    with page.expect_navigation(wait_until="load"):
        page.click("#login-submit")


def machine() -> str:
    from playwright.sync_api import sync_playwright

    cpu = f"{psutil.cpu_count(logical=True)} logical CPUs"
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = f"{model}, {cpu}"
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**naive_browser_args(pw))
        version = browser.version
        browser.close()
    return f"{cpu}; {psutil.virtual_memory().total / 1e9:.0f} GB RAM; Chromium {version}; load average {load}"


def report(
    title: str,
    *,
    driver_s: float,
    naive_s: float,
    naive_note: str,
    requests: int,
    latency_ms: int,
    concurrency: int,
    driver_mem: PeakMemory,
    naive_mem: PeakMemory,
    floor_s: float | None = None,
    extra: str = "",
) -> bool:
    bound = requests * latency_ms / 1000 / concurrency
    speedup = naive_s / driver_s
    vs_bound = driver_s / bound
    ok_speed = speedup >= 5
    ok_bound = vs_bound <= 1.5
    print(f"== {title}")
    print(f"machine:      {machine()}")
    if extra:
        print(extra)
    print(f"driver:       {driver_s:7.2f} s")
    print(f"naive:        {naive_s:7.2f} s  ({naive_note})")
    if floor_s is not None:
        print(f"plain HTTP:   {floor_s:7.2f} s  (httpx, no browser, same requests and concurrency;"
              f" driver = {driver_s / floor_s:.2f}x this)")  # fmt: skip
    print(
        f"lower bound:  {bound:7.2f} s  ({requests} requests x {latency_ms} ms / concurrency {concurrency})"
    )
    print(f"vs naive:     {speedup:7.1f}x faster  (target >= 5x: {'met' if ok_speed else 'MISSED'})")
    print(f"vs bound:     {vs_bound:7.2f}x        (target <= 1.5x: {'met' if ok_bound else 'MISSED'})")
    print(f"peak memory:  driver {driver_mem.describe()}, naive {naive_mem.describe()}")
    print("              (this process tree including Chromium; the mock backend excluded)")
    return ok_speed and ok_bound
