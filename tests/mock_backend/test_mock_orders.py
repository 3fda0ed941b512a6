"""Orders list and detail, the buyer information page, and blacklisting from an order."""

from __future__ import annotations

from datetime import datetime

from fixtures.mock_backend.testing import MockControl, SellerClient, attr, one, parse, texts


def test_orders_are_listed_newest_first_across_pages(seller: SellerClient, mock_backend: MockControl) -> None:
    first, second = seller.get("/orders").text, seller.get("/orders?page=2").text
    listed = texts(first, "tr.order-row td.order-id") + texts(second, "tr.order-row td.order-id")
    assert listed == [o["order_id"] for o in mock_backend.store(full=True)["orders"]]
    created = [
        datetime.fromisoformat(n.attributes["data-value"] or "") for n in parse(first).css("td.created-at")
    ]
    assert created == sorted(created, reverse=True)
    assert attr(first, "a.next", "href") == "/orders?page=2"
    assert not parse(second).css("a.next")


def test_created_after_keeps_only_newer_orders(seller: SellerClient, mock_backend: MockControl) -> None:
    orders = mock_backend.store(full=True)["orders"]
    cutoff = orders[9]["created_at"]
    page = seller.get("/orders", params={"created_after": cutoff}).text
    assert texts(page, "td.order-id") == [o["order_id"] for o in orders[:9]]
    assert attr(page, "#total-count", "data-total") == "9"


def test_created_after_accepts_z_and_naive_times(seller: SellerClient, mock_backend: MockControl) -> None:
    newest = mock_backend.store(full=True)["orders"][0]["created_at"]
    naive = newest.replace("+00:00", "")
    for value in (naive, naive + "Z"):
        assert parse(seller.get("/orders", params={"created_after": value}).text).css("tr.order-row") == []


def test_bad_created_after_shows_an_error(seller: SellerClient) -> None:
    assert one(seller.get("/orders?created_after=yesterday").text, "#filter-error")


def test_placed_order_appears_first(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Gülşen Öztürk")
    order = mock_backend.place_order("store-a", buyer["member_id"], amount=9.99)
    row = "tr.order-row:first-child"
    page = seller.get("/orders").text
    assert one(page, f"{row} td.order-id").text() == order["order_id"]
    assert one(page, f"{row} td.buyer-name").text() == "Gülşen Öztürk"
    assert attr(page, f"{row} td.amount", "data-value") == "9.99"


def test_order_detail_shows_the_buyer_block(seller: SellerClient, mock_backend: MockControl) -> None:
    order = mock_backend.store(full=True)["orders"][3]
    page = seller.get(f"/orders/{order['order_id']}").text
    assert one(page, "#order-id").text() == order["order_id"]
    assert one(page, "section#buyer-block #buyer-member-id").text() == order["member_id"]
    assert one(page, "section#buyer-block a#buyer-link").text() == order["buyer_name"]
    assert attr(page, "a#buyer-link", "href") == f"/buyers/{order['member_id']}"


def test_blacklist_from_order_page(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Dr. C++ 7")
    order = mock_backend.place_order("store-a", buyer["member_id"])
    page = seller.get(f"/orders/{order['order_id']}").text
    result = seller.post(attr(page, "form#order-blacklist-form", "action")).text
    assert one(result, "#blacklist-result #result-added")
    assert mock_backend.blacklist_ids()[0] == buyer["member_id"]
    assert one(seller.get(f"/orders/{order['order_id']}").text, "#buyer-blacklisted")
    again = seller.post(f"/orders/{order['order_id']}/blacklist").text
    assert one(again, "#blacklist-result #result-already")


def test_another_stores_order_is_not_found(seller: SellerClient, mock_backend: MockControl) -> None:
    order_id = mock_backend.store("store-b", full=True)["orders"][0]["order_id"]
    response = seller.get(f"/orders/{order_id}")
    assert response.status_code == 404
    assert attr(response.text, "#error-page", "data-status") == "404"


def test_buyer_page_shows_member_id_and_name(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Mary/Jane = x?y")
    page = seller.get(f"/buyers/{buyer['member_id']}").text
    assert one(page, "dl#buyer-info #buyer-member-id").text() == buyer["member_id"]
    assert one(page, "dl#buyer-info #buyer-name").text() == "Mary/Jane = x?y"
    link = attr(page, "a#buyer-blacklist-link", "href")
    assert link == f"/blacklist/add?memberId={buyer['member_id']}&name=Mary%2FJane%20%3D%20x%3Fy"


def test_unknown_buyer_page_is_404(seller: SellerClient) -> None:
    assert seller.get("/buyers/1").status_code == 404


def test_unknown_path_gets_the_sites_not_found_page(seller: SellerClient) -> None:
    response = seller.get("/no/such/page")
    assert response.status_code == 404
    assert attr(response.text, "#error-page", "data-status") == "404"
