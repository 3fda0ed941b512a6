"""The home page's quick entry and the Historical Customer Information Statistics page."""

from __future__ import annotations

from fixtures.mock_backend.testing import MockControl, SellerClient, attr, hidden_fields, one, parse, texts


def test_home_has_the_customer_statistics_quick_entry(seller: SellerClient) -> None:
    home = seller.get("/").text
    assert (
        "Historical Customer Statistics and Marketing"
        in one(home, "details#quick-entry-customer-stats summary").text()
    )
    link = one(home, "details#quick-entry-customer-stats a#customer-info-stats")
    assert link.text(strip=True) == "Historical Customer Information Statistics"
    assert link.attributes["href"] == "/customers"


def test_customers_are_paginated(seller: SellerClient, mock_backend: MockControl) -> None:
    store = mock_backend.store(full=True)
    first, last = seller.get("/customers?page=1").text, seller.get("/customers?page=3").text
    assert len(parse(first).css("tr.customer-row")) == 50
    assert attr(first, "a.next", "href") == "/customers?page=2"
    assert not parse(last).css("a.next")
    everyone = [
        mid for p in (1, 2, 3) for mid in texts(seller.get(f"/customers?page={p}").text, "td.member-id")
    ]
    assert everyone == [c["member_id"] for c in store["customers"]]
    assert attr(first, "#total-count", "data-total") == str(len(everyone))


def test_blacklisted_filter_shows_total_and_newest_first(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    buyer = mock_backend.add_buyer("Zoë D'Artagnan")
    mock_backend.blacklist("store-a", buyer["member_id"])
    page = seller.get("/customers?blacklisted=1").text
    listed = texts(page, "tr.customer-row td.member-id")
    assert listed == mock_backend.blacklist_ids()
    assert listed[0] == buyer["member_id"]
    assert attr(page, "#total-count", "data-total") == str(len(listed))
    assert {n.attributes["data-status"] for n in parse(page).css("td.status")} == {"blacklisted"}


def test_customer_row_shows_its_figures(seller: SellerClient, mock_backend: MockControl) -> None:
    customer = mock_backend.store(full=True)["customers"][0]
    row = f"tr.customer-row[data-member-id='{customer['member_id']}']"
    page = seller.get("/customers").text
    assert one(page, f"{row} td.name").text() == customer["name"]
    assert one(page, f"{row} td.country").text() == customer["country"]
    assert one(page, f"{row} td.orders").text() == str(customer["orders"])
    assert float(attr(page, f"{row} td.amount", "data-value")) == customer["amount"]
    assert attr(page, f"{row} td.last-order", "data-value") == customer["last_order_at"]


def test_remove_row_action_removes_from_the_blacklist(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    member_id = mock_backend.blacklist_ids()[0]
    form = f"tr[data-member-id='{member_id}'] form.blacklist-remove-form"
    page = seller.get("/customers?blacklisted=1").text
    response = seller.post(attr(page, form, "action"), hidden_fields(page, form))
    assert response.status_code == 303
    after = seller.follow(response).text
    assert parse(after).css("#flash.flash-removed")
    assert member_id not in mock_backend.blacklist_ids()
    assert member_id not in texts(after, "td.member-id")


def test_removing_a_buyer_not_listed_says_so(seller: SellerClient) -> None:
    seller.get("/")
    response = seller.post("/customers/blacklist/remove", {"memberId": "123456789"})
    assert parse(seller.follow(response).text).css("#flash.flash-not_listed")


def test_add_row_action_blacklists_the_customer(seller: SellerClient, mock_backend: MockControl) -> None:
    page = seller.get("/customers").text
    fields = hidden_fields(page, "tr.customer-row:first-child form.blacklist-add-form")
    response = seller.post("/customers/blacklist/add", fields)
    assert parse(seller.follow(response).text).css("#flash.flash-added")
    assert mock_backend.blacklist_ids()[0] == fields["memberId"]


def test_a_blacklisted_buyer_who_never_ordered_is_listed(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    buyer = mock_backend.add_buyer("Never Ordered")
    mock_backend.blacklist("store-a", buyer["member_id"])
    pages = [seller.get(f"/customers?page={p}").text for p in (1, 2, 3)]
    row = f"tr[data-member-id='{buyer['member_id']}']"
    page = next(p for p in pages if parse(p).css(row))
    assert one(page, f"{row} td.orders").text() == "0"
    assert attr(page, f"{row} td.status", "data-status") == "blacklisted"
