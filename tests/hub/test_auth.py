"""Who may do what: tokens, disabled sellers, and one seller's reports being out of another's reach."""

from __future__ import annotations

import logging

import pytest

from tests.hub.support import HubClient, report

ROUTES = [
    ("POST", "/v1/reports", {"reports": [report("m1")]}),
    ("PUT", "/v1/reports", {"reports": [report("m1")]}),
    ("DELETE", "/v1/reports/m1", None),
    ("GET", "/v1/feed", None),
    ("GET", "/v1/entries/m1", None),
    ("GET", "/v1/me", None),
]


def test_requests_without_a_known_token_get_401(hub: HubClient) -> None:
    hub.add_seller("a")
    for method, path, body in ROUTES:
        for headers in ({}, {"Authorization": "Bearer bh_nope"}, {"Authorization": "Basic YTpi"}):
            response = hub.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_disabled_seller_gets_403_everywhere(hub: HubClient) -> None:
    a = hub.add_seller("a")
    with hub.admin() as admin:
        admin.set_enabled("a", False)
    assert [hub.request(method, path, json=body, headers=a).status_code for method, path, body in ROUTES] == [
        403
    ] * len(ROUTES)


def test_a_disabled_seller_polling_with_a_current_etag_gets_403_not_304(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"))
    etag = hub.get("/v1/feed", params={"cursor": 0}, headers=b).headers["ETag"]
    with hub.admin() as admin:
        admin.set_enabled("b", False)  # b reported nothing: the feed, and so the ETag, stay the same
    again = hub.get("/v1/feed", params={"cursor": 0}, headers=b | {"If-None-Match": etag})
    assert again.status_code == 403
    assert hub.get("/v1/feed", params={"cursor": 0}, headers=a | {"If-None-Match": etag}).status_code == 304


def test_a_seller_cannot_withdraw_another_sellers_report(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"))
    assert hub.delete("/v1/reports/m1", headers=b).status_code == 404
    assert hub.entry(b, "m1")["reporters"] == 1
    hub.push(b, report("m2"), snapshot=True)  # b's snapshot withdraws only b's own reports
    assert hub.entry(b, "m1")["reporters"] == 1


def test_rotated_token_replaces_the_old_one(hub: HubClient) -> None:
    old = hub.add_seller("a")
    with hub.admin() as admin:
        token = admin.rotate_token("a")
    assert hub.get("/v1/me", headers=old).status_code == 401
    assert hub.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "a"


def test_tokens_are_stored_only_as_hashes(hub: HubClient) -> None:
    headers = hub.add_seller("a")
    token = headers["Authorization"].removeprefix("Bearer ")
    with hub.admin() as admin, admin.db.read() as session:
        stored = session.connection().exec_driver_sql("SELECT token_hash FROM sellers").scalar_one()
    assert token not in stored
    assert len(stored) == 64


def test_health_and_metrics_need_no_token(hub: HubClient) -> None:
    assert hub.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert hub.get("/metrics").status_code == 200


def test_tokens_never_reach_the_logs(hub: HubClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = hub.add_seller("a")
    token = headers["Authorization"].removeprefix("Bearer ")
    hub.push(headers, report("m1"))
    hub.get("/v1/feed", headers=headers)
    hub.get("/v1/me", headers={"Authorization": f"Bearer {token}x"})
    with hub.admin() as admin:
        admin.rotate_token("a")
    assert caplog.records
    assert token not in caplog.text
