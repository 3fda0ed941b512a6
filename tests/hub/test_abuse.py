"""Churn and unauthenticated traffic are bounded: the daily budget, the write budget, the address gate,
and the metrics token."""

from __future__ import annotations

import socket

from hub.sellers import create_seller
from hub.settings import HubSettings
from tests.hub.support import HubClient, MakeHub, ServedHub, report


def test_refiling_withdrawn_reports_uses_the_daily_budget(make_hub: MakeHub) -> None:
    hub = make_hub(daily_new_reports=10, first_snapshot_allowance=0)
    a = hub.add_seller("a")
    batch = [report(f"m{i}") for i in range(5)]
    hub.push(a, *batch)
    assert hub.put("/v1/reports", json={"reports": []}, headers=a).json()["withdrawn"] == 5
    hub.push(a, *batch)  # re-filed: 10 used
    hub.put("/v1/reports", json={"reports": []}, headers=a)
    refused = hub.post("/v1/reports", json={"reports": batch[:1]}, headers=a)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert hub.get("/v1/me", headers=a).json()["quota"]["used_today"] == 10
    hub.clock.advance(days=1)
    hub.push(a, *batch[:1])


def test_changing_a_reason_or_name_uses_the_daily_budget_confirming_does_not(make_hub: MakeHub) -> None:
    hub = make_hub(daily_new_reports=4)
    a = hub.add_seller("a")
    hub.push(a, report("m1", reason="fraud"), report("m2"))
    for _ in range(5):
        hub.push(a, report("m1", reason="fraud"), report("m2"))  # confirmations: free
    hub.push(a, report("m1", reason="chargeback"))
    hub.push(a, report("m1", reason="chargeback", name="Jane R."))
    refused = hub.post("/v1/reports", json={"reports": [report("m1", reason="fraud")]}, headers=a)
    assert refused.status_code == 429
    assert hub.get("/v1/me", headers=a).json()["quota"]["remaining_today"] == 0
    hub.push(a, report("m1", reason="chargeback", name="Jane R.", note="still free: not seen by others"))


def test_the_write_budget_bounds_what_one_seller_writes(make_hub: MakeHub) -> None:
    hub = make_hub(write_items_per_minute=1, write_items_burst=30)
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, *[report(f"m{i}") for i in range(20)])
    refused = hub.post("/v1/reports", json={"reports": [report(f"m{i}") for i in range(20)]}, headers=a)
    assert refused.status_code == 429
    assert "write budget" in refused.json()["detail"]
    assert hub.delete("/v1/reports/m1", headers=a).status_code == 200  # 21 of 30 used
    hub.push(b, report("m1"))  # b's budget is its own
    # Withdrawing everything in one snapshot is paid too (after the fact): the next write must wait.
    assert hub.put("/v1/reports", json={"reports": []}, headers=a).json()["withdrawn"] == 19
    assert hub.post("/v1/reports", json={"reports": [report("m1")]}, headers=a).status_code == 429


def test_a_write_the_budget_cannot_pay_for_is_refused_before_its_body_is_parsed(make_hub: MakeHub) -> None:
    hub = make_hub(write_items_per_minute=1, write_items_burst=30)
    a = hub.add_seller("a")
    hub.push(a, *[report(f"m{i}") for i in range(20)])  # 10 items left
    # Eleven objects in a body that would not even parse: refused for the budget, so never parsed (parsed,
    # it would have been a 422).
    broken = b'{"reports": [' + b",".join(b'{"member_id": "x%d"}' % i for i in range(11)) + b"]"
    refused = hub.post("/v1/reports", content=broken, headers={**a, "Content-Type": "application/json"})
    assert refused.status_code == 429
    assert "write budget" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    # What the budget can pay for is parsed and written as before (a brace in a name counts as an item
    # here; the handler charges the 9 reports parsed).
    hub.push(a, *[report(f"n{i}") for i in range(8)], report("n8", name="{Jane} Roe"))
    assert hub.entry(a, "n8")["name"] == "{Jane} Roe"
    hub.push(a, report("n9"))
    assert hub.post("/v1/reports", json={"reports": [report("n10")]}, headers=a).status_code == 429


def test_requests_without_a_valid_token_are_limited_per_address(make_hub: MakeHub) -> None:
    hub = make_hub(unauthenticated_per_minute=1, unauthenticated_burst=3)
    a = hub.add_seller("a")
    statuses = [
        hub.get("/v1/me").status_code,
        hub.get("/v1/feed", headers={"Authorization": "Bearer bh_guess"}).status_code,
        hub.post("/v1/reports", json={"reports": []}).status_code,
        hub.get("/v1/feed").status_code,
        hub.get("/healthz").status_code,
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert hub.get("/v1/me").headers["Retry-After"].isdigit()
    assert hub.get("/v1/me", headers=a).status_code == 200  # sellers are never charged for others


def test_an_unauthenticated_body_is_refused_before_it_is_read(hub_url: str) -> None:
    settings = HubSettings(database_url=hub_url, publish_interval_seconds=0)
    with ServedHub(settings) as served:
        # Headers announcing a 900 kB body, and no body at all: the answer comes without waiting for it.
        request = (
            "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 900000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            sock.sendall(request.encode())
            answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 401")
    assert "missing bearer token" in answer


def test_a_seller_over_its_request_rate_is_refused_before_its_body_is_read(hub_url: str) -> None:
    settings = HubSettings(
        database_url=hub_url, publish_interval_seconds=0, rate_limit_per_minute=1, rate_limit_burst=1
    )
    with ServedHub(settings) as served:
        with served.context.db.write() as session:
            _, token = create_seller(session, "a", "store-a", served.context.now())
        head = (
            "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {{length}}\r\n\r\n"
        )
        body = '{"reports": [{"member_id": "1", "name": "Jane Roe", "reason": "fraud"}]}'
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            sock.sendall((head.format(length=len(body)) + body).encode())
            assert sock.recv(4096).decode().startswith("HTTP/1.1 200")  # the one request of the minute
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            # A 900 kB body announced and never sent: the refusal comes without waiting for it, and the
            # hub closes the connection rather than read the body to throw it away.
            sock.sendall(head.format(length=900_000).encode())
            answer = sock.recv(4096).decode()
            assert sock.recv(4096) == b""
    assert answer.startswith("HTTP/1.1 429")
    assert "rate limit exceeded" in answer
    assert "connection: close" in answer.lower()


def test_metrics_can_require_a_token(make_hub: MakeHub) -> None:
    hub = make_hub(metrics_token="scrape-secret")
    seller = hub.add_seller("a")
    assert hub.get("/metrics").status_code == 401
    assert hub.get("/metrics", headers=seller).status_code == 401
    assert hub.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = hub.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert scraped.status_code == 200
    assert "hub_entries_live" in scraped.text
    assert "scrape-secret" not in scraped.text


def test_metrics_stay_open_without_a_token(hub: HubClient) -> None:
    assert hub.get("/metrics").status_code == 200


def test_a_seller_has_one_write_at_a_time(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    with hub.admin() as admin:
        seller_a = next(s.id for s in admin.list_sellers() if s.name == "a")
    with hub.context.one_write_per_seller(seller_a):  # a's first write, still in progress
        second = hub.post("/v1/reports", json={"reports": [report("m1")]}, headers=a)
        assert second.status_code == 429
        assert second.headers["Retry-After"] == "1"
        assert hub.delete("/v1/reports/m1", headers=a).status_code == 429
        hub.push(b, report("m1"))  # other sellers write meanwhile
    hub.push(a, report("m1"))
