"""Signing in: the login decides the store, wrong passwords, lockout, sessions and CSRF."""

from __future__ import annotations

from collections.abc import Callable

from fixtures.mock_backend.testing import MockControl, SellerClient, attr, one, texts


def test_seller_page_without_session_redirects_to_login_with_next(
    new_seller: Callable[..., SellerClient],
) -> None:
    client = new_seller(login=False)
    response = client.get("/customers?blacklisted=1")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=%2Fcustomers%3Fblacklisted%3D1"


def test_login_decides_the_store(new_seller: Callable[..., SellerClient]) -> None:
    a, b = new_seller("store-a"), new_seller("store-b")
    assert texts(a.get("/").text, "#store-name") != texts(b.get("/").text, "#store-name")
    assert attr(b.get("/").text, "#store-name", "data-store-id") == "store-b"


def test_login_returns_to_the_page_asked_for(
    mock_backend: MockControl, new_seller: Callable[..., SellerClient]
) -> None:
    client = new_seller(login=False)
    response = client.login(*mock_backend.credentials(), next_path="/orders")
    assert response.headers["location"] == "/orders"


def test_wrong_password_shows_an_error(
    mock_backend: MockControl, new_seller: Callable[..., SellerClient]
) -> None:
    client = new_seller(login=False)
    response = client.login("seller-a", "not-the-password")
    assert response.status_code == 200
    assert one(response.text, "#login-error").text() == "Incorrect account or password."
    assert client.get("/").status_code == 302


def test_login_form_without_csrf_is_rejected(
    mock_backend: MockControl, new_seller: Callable[..., SellerClient]
) -> None:
    client = new_seller(login=False)
    client.get("/login")
    login, password = mock_backend.credentials()
    response = client.post("/login", {"username": login, "password": password}, csrf=False)
    assert response.status_code == 403


def test_form_post_without_csrf_is_rejected(seller: SellerClient, mock_backend: MockControl) -> None:
    member_id = mock_backend.blacklist_ids()[0]
    response = seller.post("/customers/blacklist/remove", {"memberId": member_id}, csrf=False)
    assert response.status_code == 403
    assert member_id in mock_backend.blacklist_ids()


def test_logout_ends_the_session(seller: SellerClient) -> None:
    seller.get("/")
    assert seller.post("/logout").status_code == 303
    assert seller.get("/").status_code == 302
