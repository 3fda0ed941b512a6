"""The feed's lean path answers exactly as the validated FastAPI route does, and keeps every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from hub import feed_fast
from hub.feed_fast import bearer, parse_query
from tests.hub.support import HubClient, MakeHub, report

Answer = tuple[int, dict[str, str], bytes]
KEPT_HEADERS = ("etag", "content-type", "www-authenticate", "retry-after")


def answer(hub: HubClient, query: str, headers: dict[str, str]) -> Answer:
    response = hub.get(f"/v1/feed?{query}", headers=headers)
    kept = {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
    return response.status_code, kept, response.content


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests the lean path answered (the FastAPI route calls `answer_feed` directly)."""
    calls: list[int] = []
    real = feed_fast.answer_feed

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(feed_fast, "answer_feed", spy)
    return calls


def both(
    hub: HubClient, lean_calls: list[int], params: str, headers: dict[str, str]
) -> tuple[Answer, Answer]:
    """The same request through the lean path and (a percent-encoded parameter name) through FastAPI."""
    before = len(lean_calls)
    lean = answer(hub, params, headers)
    assert len(lean_calls) == before + 1, "the lean path did not answer"
    validated = answer(hub, params.replace("cursor=", "cur%73or="), headers)
    assert len(lean_calls) == before + 1, "the FastAPI route did not answer"
    return lean, validated


def test_lean_path_and_route_give_the_same_pages_and_304s(hub: HubClient, lean_calls: list[int]) -> None:
    a = hub.add_seller("a")
    hub.push(a, *[report(f"m{i}") for i in range(5)])
    lean, validated = both(hub, lean_calls, "cursor=0&limit=2", a)
    assert lean == validated
    assert lean[0] == 200
    etag = lean[1]["etag"]
    lean, validated = both(hub, lean_calls, "cursor=0&limit=2", a | {"If-None-Match": etag})
    assert lean == validated
    assert lean[0] == 304


@pytest.mark.parametrize(
    ("case", "expected"),
    [("no token", 401), ("unknown token", 401), ("disabled", 403), ("cursor ahead", 410)],
)
def test_lean_path_and_route_refuse_alike(
    hub: HubClient, lean_calls: list[int], case: str, expected: int
) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    headers, params = a, "cursor=1"
    if case == "no token":
        headers = {}
    elif case == "unknown token":
        headers = {"Authorization": "Bearer bh_not-a-token"}
    elif case == "disabled":
        with hub.admin() as admin:
            admin.set_enabled("a", False)
    else:
        params = "cursor=99"
    lean, validated = both(hub, lean_calls, params, headers)
    assert lean == validated
    assert lean[0] == expected


def test_lean_path_keeps_the_rate_limit(make_hub: MakeHub, lean_calls: list[int]) -> None:
    hub = make_hub(rate_limit_per_minute=1, rate_limit_burst=2)
    a = hub.add_seller("a")
    statuses = [answer(hub, "cursor=0", a)[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert hub.get("/v1/feed?cursor=0", headers=a).headers["Retry-After"].isdigit()


def test_lean_path_counts_its_requests_under_the_feed_route(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.get("/v1/feed?cursor=0", headers=a)
    metrics = hub.get("/metrics").text
    assert 'hub_http_requests_total{method="GET",route="/v1/feed",status="200"} 1' in metrics


@pytest.mark.parametrize(
    "query",
    [b"cursor=-1", b"cursor=1&cursor=2", b"limit=0", b"limit=5001", b"wait=61", b"cursor=1%30", b"cursor="],
)
def test_anything_unusual_is_left_to_full_validation(query: bytes) -> None:
    assert parse_query(query) is None


def test_plain_parameters_are_read_with_their_defaults() -> None:
    assert parse_query(b"") == {b"cursor": 0, b"limit": 1000, b"wait": 0}
    assert parse_query(b"cursor=42&wait=30&other=x") == {b"cursor": 42, b"limit": 1000, b"wait": 30}


@pytest.mark.parametrize(
    ("authorization", "token"),
    [(b"Bearer abc", "abc"), (b"bearer  abc ", "abc"), (b"Basic abc", None), (b"Bearer", None)],
)
def test_the_bearer_token_is_read_as_fastapi_reads_it(authorization: bytes, token: str | None) -> None:
    assert bearer([(b"authorization", authorization)]) == (token, None)
