"""The fault switches: latency, 500s, 429 with Retry-After, session lifetime; start-up faults after reset."""

from __future__ import annotations

import time
from collections.abc import Callable

from fixtures.mock_backend.config import Faults, MockConfig
from fixtures.mock_backend.server import MockServer
from fixtures.mock_backend.testing import MockControl, SellerClient, attr


def test_latency_delays_every_seller_request(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(latency_ms=300)
    for path in ("/", "/static/v1/site.css"):
        started = time.monotonic()
        assert seller.get(path).status_code == 200
        assert time.monotonic() - started >= 0.3  # a lower bound only: never flaky on a busy machine


def test_faults_never_touch_the_control_api(mock_backend: MockControl) -> None:
    mock_backend.set_faults(error_rate=1.0, rate_limit=1)
    for _ in range(3):
        assert mock_backend.state()["faults"]["error_rate"] == 1.0


def test_error_rate_one_fails_every_page_with_500(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(error_rate=1.0)
    for path in ("/", "/customers", "/login"):
        response = seller.get(path)
        assert response.status_code == 500
        assert attr(response.text, "#error-page", "data-status") == "500"


def test_error_rate_fails_a_seeded_share_of_requests(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(error_rate=0.5)
    statuses = [seller.get("/").status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35
    assert statuses.count(200) == 40 - statuses.count(500)


def test_rate_limit_answers_429_with_retry_after(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    first, second = new_seller(), new_seller()
    mock_backend.set_faults(rate_limit=1)
    answers = [first.get("/") for _ in range(5)]
    assert answers[0].status_code == 200
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert second.get("/").status_code == 200  # the limit is per session


def test_lowering_session_lifetime_expires_running_sessions(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    assert seller.get("/customers").status_code == 200
    mock_backend.set_faults(session_lifetime_s=0)
    response = seller.get("/customers")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=%2Fcustomers"


def test_expired_session_renews_by_logging_in_again(seller: SellerClient, mock_backend: MockControl) -> None:
    assert mock_backend.expire_sessions("store-a") >= 1
    assert seller.get("/").status_code == 302
    assert seller.login(*mock_backend.credentials()).status_code == 303
    assert seller.get("/").status_code == 200


def test_reset_restores_start_up_faults() -> None:
    config = MockConfig(stores=1, customers=5, orders=2, faults=Faults(latency_ms=1, layout="v2"))
    with MockServer(config) as server:
        control = MockControl(server.url)
        assert control.set_faults(latency_ms=0, layout="v1")["latency_ms"] == 0
        control.reset()
        faults = control.state()["faults"]
        control.close()
    assert (faults["latency_ms"], faults["layout"]) == (1, "v2")
