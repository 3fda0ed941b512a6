"""The home page's quick entry and the Historical Customer Information Statistics page."""

from __future__ import annotations

from fixtures.mock_backend.testing import MockControl, SellerClient, texts
from fixtures.mock_backend.testing import parse as html


def test_home_has_the_customer_statistics_quick_entry(seller: SellerClient) -> None:
    page = html(seller.get("/").text)
    entry = page.css_first("details#quick-entry-customer-stats")
    assert "Historical Customer Statistics and Marketing" in entry.css_first("summary").text()
    link = entry.css_first("a#customer-info-stats")
    assert link.text(strip=True) == "Historical Customer Information Statistics"
    assert link.attributes["href"] == "/customers"


def test_customers_are_paginated(seller: SellerClient, mock_backend: MockControl) -> None:
    store = mock_backend.store(full=True)
    first, last = seller.get("/customers?page=1").text, seller.get("/customers?page=3").text
    assert len(html(first).css("tr.customer-row")) == 50
    assert html(first).css_first("a.next").attributes["href"] == "/customers?page=2"
    assert html(last).css_first("a.next") is None
    everyone = [
        mid for p in (1, 2, 3) for mid in texts(seller.get(f"/customers?page={p}").text, "td.member-id")
    ]
    assert everyone == [c["member_id"] for c in store["customers"]]
    assert html(first).css_first("#total-count").attributes["data-total"] == str(len(everyone))


def test_blacklisted_filter_shows_total_and_newest_first(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    buyer = mock_backend.add_buyer("Zoë D'Artagnan")
    mock_backend.blacklist("store-a", buyer["member_id"])
    page = seller.get("/customers?blacklisted=1").text
    listed = texts(page, "tr.customer-row td.member-id")
    assert listed == mock_backend.blacklist_ids()
    assert listed[0] == buyer["member_id"]
    assert html(page).css_first("#total-count").attributes["data-total"] == str(len(listed))
    assert {n.attributes["data-status"] for n in html(page).css("td.status")} == {"blacklisted"}


def test_customer_row_shows_its_figures(seller: SellerClient, mock_backend: MockControl) -> None:
    customer = mock_backend.store(full=True)["customers"][0]
    row = html(seller.get("/customers").text).css_first("tr.customer-row")
    assert row.css_first("td.member-id").text() == customer["member_id"]
    assert row.css_first("td.name").text() == customer["name"]
    assert row.css_first("td.country").text() == customer["country"]
    assert row.css_first("td.orders").text() == str(customer["orders"])
    assert float(row.css_first("td.amount").attributes["data-value"] or "") == customer["amount"]
    assert row.css_first("td.last-order").attributes["data-value"] == customer["last_order_at"]


def test_remove_row_action_removes_from_the_blacklist(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    member_id = mock_backend.blacklist_ids()[0]
    page = html(seller.get("/customers?blacklisted=1").text)
    form = page.css_first(f"tr[data-member-id='{member_id}'] form.blacklist-remove-form")
    fields = {i.attributes["name"] or "": i.attributes["value"] or "" for i in form.css("input[type=hidden]")}
    response = seller.post(form.attributes["action"] or "", fields)
    assert response.status_code == 303
    after = seller.follow(response).text
    assert html(after).css_first("#flash.flash-removed") is not None
    assert member_id not in mock_backend.blacklist_ids()
    assert member_id not in texts(after, "td.member-id")


def test_removing_a_buyer_not_listed_says_so(seller: SellerClient, mock_backend: MockControl) -> None:
    seller.get("/")
    response = seller.post("/customers/blacklist/remove", {"memberId": "123456789"})
    assert html(seller.follow(response).text).css_first("#flash.flash-not_listed") is not None


def test_add_row_action_blacklists_the_customer(seller: SellerClient, mock_backend: MockControl) -> None:
    page = html(seller.get("/customers").text)
    form = page.css_first("form.blacklist-add-form")
    member_id = form.css_first("input[name=memberId]").attributes["value"] or ""
    response = seller.post("/customers/blacklist/add", {"memberId": member_id})
    assert html(seller.follow(response).text).css_first("#flash.flash-added") is not None
    assert mock_backend.blacklist_ids()[0] == member_id
