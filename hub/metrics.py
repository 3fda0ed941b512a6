"""Prometheus text exposition (format 0.0.4), written by hand: a few counters need no client library.

Request counters and the gauges registered with `gauge` (e.g. waiting feed clients) are per process; the
database gauges are read at scrape time, so they are hub-wide.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)
        self._counters: dict[str, int] = defaultdict(int)
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A per-process gauge, read at each scrape."""
        self._gauges[name] = (help_text, read)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            self._seconds[(method, route)] += seconds

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """All metrics; `gauges` maps a name to (help text, value)."""
        lines = [
            "# HELP hub_http_requests_total HTTP requests served by this process.",
            "# TYPE hub_http_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            seconds = sorted(self._seconds.items())
            counters = sorted(self._counters.items())
        for (method, route, status), n in requests:
            labels = _labels([("method", method), ("route", route), ("status", status)])
            lines.append(f"hub_http_requests_total{labels} {n}")
        lines += [
            "# HELP hub_http_request_seconds_total Time spent serving HTTP requests in this process.",
            "# TYPE hub_http_request_seconds_total counter",
        ]
        for (method, route), total in seconds:
            lines.append(
                f"hub_http_request_seconds_total{_labels([('method', method), ('route', route)])} {total:.6f}"
            )
        for name, n in counters:
            lines += [f"# TYPE hub_{name}_total counter", f"hub_{name}_total {n}"]
        local = {name: (help_text, read()) for name, (help_text, read) in self._gauges.items()}
        for name, (help_text, value) in sorted({**local, **gauges}.items()):
            lines += [f"# HELP hub_{name} {help_text}", f"# TYPE hub_{name} gauge", f"hub_{name} {value:g}"]
        return "\n".join(lines) + "\n"
