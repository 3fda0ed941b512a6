"""Layout v2: other markup, JSON endpoints behind the session and an anti-forgery header."""

from __future__ import annotations

from collections.abc import Callable

from fixtures.mock_backend.testing import MockControl, SellerClient, attr, one, parse


def api_headers(seller: SellerClient, page: str = "/customers") -> dict[str, str]:
    token = attr(seller.get(page).text, "meta[name=csrf-token]", "content")
    return {"X-CSRF-Token": token}


def test_v2_customers_api_pages_like_the_v1_table(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    headers = api_headers(seller)
    first = seller.get("/api/v2/customers?page=1&size=50", headers=headers).json()
    assert (first["total"], first["pages"], len(first["items"])) == (
        len(mock_backend.store(full=True)["customers"]),
        3,
        50,
    )
    item = first["items"][0]
    customer = mock_backend.store(full=True)["customers"][0]
    assert (item["memberId"], item["name"], item["orderCount"]) == (
        customer["member_id"],
        customer["name"],
        customer["orders"],
    )
    assert item["status"] == "NORMAL"
    assert item["blacklistedAt"] is None


def test_v2_blacklisted_filter_is_newest_first(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    data = seller.get("/api/v2/customers?blacklisted=1", headers=api_headers(seller)).json()
    assert [i["memberId"] for i in data["items"]] == mock_backend.blacklist_ids()
    assert {i["status"] for i in data["items"]} == {"BLACKLISTED"}


def test_v2_orders_api_filters_by_created_after(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    orders = mock_backend.store(full=True)["orders"]
    params = {"created_after": orders[4]["created_at"]}
    data = seller.get("/api/v2/orders", params=params, headers=api_headers(seller, "/orders")).json()
    assert [i["orderId"] for i in data["items"]] == [o["order_id"] for o in orders[:4]]
    assert data["total"] == 4


def test_v2_api_without_session_answers_401_json(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout="v2")
    response = new_seller(login=False).get("/api/v2/customers")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"


def test_v2_api_without_anti_forgery_header_answers_403(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout="v2")
    assert seller.get("/api/v2/customers").status_code == 403
    assert seller.get("/api/v2/customers", headers={"X-CSRF-Token": "forged"}).status_code == 403


def test_v2_api_does_not_exist_in_v1(seller: SellerClient) -> None:
    assert seller.get("/api/v2/customers", headers={"X-CSRF-Token": seller.csrf or ""}).status_code == 404


def test_v2_server_pages_use_other_markup(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    buyer = mock_backend.add_buyer("Şükrü Yılmaz")
    home = seller.get("/").text
    assert not parse(home).css("#quick-entry-customer-stats")
    assert one(home, "a.sc-shortcut[data-entry=customer-info]").attributes["href"] == "/customers"
    confirm = seller.get(
        "/blacklist/add", params={"memberId": buyer["member_id"], "name": buyer["name"]}
    ).text
    assert one(confirm, "div.sc-dialog span[data-field=name]").text() == "Şükrü Yılmaz"
    result = seller.post(
        "/blacklist/add", {"memberId": buyer["member_id"], "name": buyer["name"], "_token": seller.csrf or ""}
    ).text
    assert one(result, "div.sc-result.sc-result--success")
    assert (
        one(seller.get(f"/buyers/{buyer['member_id']}").text, "span[data-field=memberId]").text()
        == buyer["member_id"]
    )


def test_v2_customers_page_is_a_shell_without_rows(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    page = seller.get("/customers").text
    assert attr(page, "div.sc-grid", "data-api") == "/api/v2/customers"
    assert not parse(page).css("tr.sc-table__row")
