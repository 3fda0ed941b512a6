"""Health check and metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hub.admin import add_seller
from hub.app import create_app
from hub.db import migrate
from hub.settings import HubSettings
from tests.hub.support import HubClient, report


def test_health_check_answers_503_when_the_database_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    url = f"sqlite:///{path}"
    migrate(url)
    token = add_seller(url, "a", "A")
    with TestClient(create_app(HubSettings(database_url=url))) as client:
        assert client.get("/healthz").status_code == 200
        client.app.state.hub.db.dispose()  # type: ignore[attr-defined]
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        down = client.get("/healthz")
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "database": "unavailable"}
        feed = client.get("/v1/feed", headers={"Authorization": f"Bearer {token}"})
        assert feed.status_code == 503
        assert "hub_database_up 0" in client.get("/metrics").text


def test_metrics_count_requests_by_route_and_show_hub_figures(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"))
    hub.get("/v1/entries/m1", headers=a)
    hub.get("/v1/entries/m2", headers=a)
    hub.get("/no/such/page")
    text = hub.get("/metrics").text
    assert 'hub_http_requests_total{method="GET",route="/v1/entries/{member_id}",status="200"} 2' in text
    assert 'hub_http_requests_total{method="GET",route="unmatched",status="404"} 1' in text
    assert "hub_entries_live 2" in text
    assert "hub_sellers_enabled 1" in text
    assert "Bearer" not in text


def test_wrong_method_lists_every_allowed_method(hub: HubClient) -> None:
    response = hub.request("PATCH", "/v1/reports", headers=hub.add_seller("a"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, PUT"
