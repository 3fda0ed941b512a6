"""The hub client's HTTP discipline, driven through httpx.MockTransport (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from agent.errors import ConfigError, HubRejected, HubUnavailable
from agent.hub_client import FeedCursorExpired, HubClient, HubRateLimited, parse_retry_after
from agent.hub_models import Report

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, sleeps: list[float] | None = None, url: str = "http://127.0.0.1:9") -> HubClient:
    waits = sleeps if sleeps is not None else []
    return HubClient(url, "tok-secret", transport=httpx.MockTransport(handler), sleep=waits.append)


def answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


ENTRY = {"member_id": "42", "name": "X", "reporters": 2, "score": 57, "reasons": {"fraud": 2}}


def test_server_errors_are_retried_with_backoff_then_succeed() -> None:
    handler, seen = answers(httpx.Response(503), httpx.Response(502), httpx.Response(200, json=ENTRY))
    sleeps: list[float] = []
    assert client(handler, sleeps).entry("42") is not None
    assert len(seen) == 3
    assert len(sleeps) == 2
    assert sleeps[1] > 0


def test_retry_after_is_honoured() -> None:
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=ENTRY))
    sleeps: list[float] = []
    client(handler, sleeps).entry("42")
    assert sleeps == [7.0]


def test_rate_limit_is_never_read_as_not_listed() -> None:
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "1"}))
    with pytest.raises(HubRateLimited):
        client(handler).entry("42")


def test_a_long_quota_wait_fails_at_once_instead_of_sleeping() -> None:
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []
    with pytest.raises(HubRateLimited) as info:
        client(handler, sleeps).push_reports([Report("1", "A")])
    assert (len(seen), sleeps, info.value.retry_after) == (1, [], 3600.0)


def test_only_a_real_404_means_not_listed() -> None:
    handler, _ = answers(httpx.Response(404, json={"detail": "no such entry"}))
    assert client(handler).entry("42") is None


def test_unreachable_hub_raises_hub_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(HubUnavailable):
        client(handler).me()


def test_a_refusal_carries_the_hubs_message_and_never_the_token() -> None:
    handler, _ = answers(httpx.Response(403, json={"detail": "seller disabled"}))
    with pytest.raises(HubRejected) as info:
        client(handler).me()
    assert info.value.status_code == 403
    assert "seller disabled" in str(info.value)
    assert "tok-secret" not in str(info.value)


def test_feed_sends_the_etag_and_reads_304_as_nothing_new() -> None:
    handler, seen = answers(httpx.Response(304))
    assert client(handler).feed(41, etag='"abc"') is None
    assert seen[0].headers["If-None-Match"] == '"abc"'
    assert seen[0].url.params["cursor"] == "41"


def test_feed_page_keeps_tombstones_and_the_etag() -> None:
    body = {
        "changes": [
            {"seq": 1, "member_id": "42", "deleted": False, "entry": ENTRY},
            {"seq": 2, "member_id": "7", "deleted": True, "entry": None},
        ],
        "next_cursor": 2,
        "has_more": False,
    }
    handler, _ = answers(httpx.Response(200, json=body, headers={"ETag": '"e2"'}))
    page = client(handler).feed(0)
    assert page is not None
    assert page.etag == '"e2"'
    assert page.next_cursor == 2
    assert [(c.member_id, c.entry is None) for c in page.changes] == [("42", False), ("7", True)]


def test_expired_cursor_raises_so_the_engine_re_pulls_from_zero() -> None:
    handler, _ = answers(httpx.Response(410, json={"detail": "cursor too old"}))
    with pytest.raises(FeedCursorExpired):
        client(handler).feed(5)


def test_token_is_refused_over_plain_http_to_a_remote_host() -> None:
    handler, seen = answers(httpx.Response(200, json={}))
    with pytest.raises(ConfigError) as info:
        client(handler, url="http://hub.example.com")
    assert info.value.key == "hub.url"
    assert seen == []
    client(handler, url="http://localhost:8000")  # loopback is fine
    client(handler, url="https://hub.example.com")


def test_reports_are_sent_in_batches_of_1000_with_a_bearer_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = len(json.loads(request.content)["reports"])
        return httpx.Response(200, json={"created": n, "updated": 0, "unchanged": 0})

    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    counts = client(recording).push_reports([Report(str(i), f"N{i}") for i in range(2500)])
    assert counts.created == 2500
    assert [len(json.loads(r.content)["reports"]) for r in seen] == [1000, 1000, 500]
    assert seen[0].headers["Authorization"] == "Bearer tok-secret"


def test_retry_after_accepts_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 26 Nov 2026 12:00:30 GMT", now=now) == 30.0
