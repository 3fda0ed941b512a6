"""Abuse limits: per-seller request rate, daily quota of new reports, first-snapshot allowance."""

from __future__ import annotations

from tests.hub.support import MakeHub, report


def test_requests_over_the_rate_get_429_with_retry_after(make_hub: MakeHub) -> None:
    hub = make_hub(rate_limit_per_minute=0.6, rate_limit_burst=3)  # a token every 100 s
    a, b = hub.add_seller("a"), hub.add_seller("b")
    statuses = [hub.get("/v1/me", headers=a).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = hub.get("/v1/me", headers=a)
    assert 1 <= int(limited.headers["Retry-After"]) <= 100
    assert hub.get("/v1/me", headers=b).status_code == 200  # limits are per seller


def test_new_reports_over_the_daily_quota_get_429_and_change_nothing(make_hub: MakeHub) -> None:
    hub = make_hub(daily_new_reports=5)
    a = hub.add_seller("a")
    hub.push(a, *[report(f"m{i}") for i in range(4)])
    over = hub.post("/v1/reports", json={"reports": [report("m4"), report("m5")]}, headers=a)
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) == 12 * 3600  # until midnight UTC (clock at noon)
    assert hub.get("/v1/me", headers=a).json()["quota"] == {
        "daily_new_reports": 5,
        "used_today": 4,
        "remaining_today": 1,
        "first_snapshot_allowance": 10000,
    }
    hub.push(a, *[report(f"m{i}") for i in range(5)])  # confirmations and one new report fit
    hub.clock.advance(days=1)
    hub.push(a, report("m5"))


def test_first_snapshot_may_exceed_the_daily_quota_once(make_hub: MakeHub) -> None:
    hub = make_hub(daily_new_reports=5, first_snapshot_allowance=20)
    a = hub.add_seller("a")
    assert hub.push(a, *[report(f"m{i}") for i in range(20)], snapshot=True)["created"] == 20
    hub.clock.advance(days=1)
    second = hub.put("/v1/reports", json={"reports": [report(f"n{i}") for i in range(6)]}, headers=a)
    assert second.status_code == 429
    assert hub.get("/v1/me", headers=a).json()["reports"] == 20
