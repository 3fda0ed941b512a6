"""The test-only control API: state, buyers, storefront orders, the seller's own hands, reset."""

from __future__ import annotations

from fixtures.mock_backend.testing import MockControl, SellerClient


def test_state_lists_stores_with_credentials_and_blacklists(mock_backend: MockControl) -> None:
    state = mock_backend.state()
    assert [s["store_id"] for s in state["stores"]] == ["store-a", "store-b", "store-c"]
    assert [s["login"] for s in state["stores"]] == ["seller-a", "seller-b", "seller-c"]
    for store in state["stores"]:
        assert store["password"]
        assert store["counts"] == {"customers": 120, "orders": 60, "blacklist": len(store["blacklist"])}
        assert store["blacklist"]
        assert {"member_id", "name", "blacklisted_at"} <= set(store["blacklist"][0])
    assert "customers" not in state["stores"][0]


def test_full_state_of_one_store_has_customers_and_orders(mock_backend: MockControl) -> None:
    store = mock_backend.store("store-b", full=True)
    assert len(store["orders"]) == 60
    assert len(store["customers"]) >= 120
    ids = [c["member_id"] for c in store["customers"]]
    assert all(mid.isdigit() and 8 <= len(mid) <= 12 for mid in ids)


def test_seed_data_has_odd_names_and_buyers_shared_between_stores(mock_backend: MockControl) -> None:
    names = [b["name"] for b in mock_backend.state(buyers=True)["buyers"]]
    assert any(not n.isascii() for n in names)
    assert any("'" in n for n in names)
    assert any(set(n) & set("&+#%/=?") for n in names)
    a = {c["member_id"] for c in mock_backend.store("store-a", full=True)["customers"]}
    b = {c["member_id"] for c in mock_backend.store("store-b", full=True)["customers"]}
    assert a & b


def test_new_buyer_gets_a_numeric_member_id(mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Łukasz Wójcik")
    assert buyer["member_id"].isdigit()
    assert buyer["name"] == "Łukasz Wójcik"
    assert mock_backend.add_buyer("Given Id", member_id="4242")["member_id"] == "4242"
    assert (
        mock_backend.request("POST", "/buyers", json={"name": "Twin", "member_id": "4242"}).status_code == 409
    )


def test_order_makes_the_buyer_a_customer(mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("New Customer")
    order = mock_backend.place_order("store-a", buyer["member_id"], amount=12.5)
    store = mock_backend.store(full=True)
    assert store["orders"][0]["order_id"] == order["order_id"]
    assert store["customers"][0]["member_id"] == buyer["member_id"]
    assert store["customers"][0]["orders"] == 1


def test_blacklisted_buyer_cannot_order(mock_backend: MockControl) -> None:
    member_id = mock_backend.blacklist_ids("store-a")[0]
    response = mock_backend.request("POST", "/orders", json={"store_id": "store-a", "member_id": member_id})
    assert response.status_code == 403
    assert mock_backend.store()["counts"]["orders"] == 60


def test_seller_blacklists_and_removes_by_hand(mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("By Hand")
    assert mock_backend.blacklist("store-b", buyer["member_id"])["outcome"] == "added"
    assert mock_backend.blacklist("store-b", buyer["member_id"])["outcome"] == "already_blacklisted"
    assert mock_backend.blacklist_ids("store-b")[0] == buyer["member_id"]
    assert buyer["member_id"] not in mock_backend.blacklist_ids("store-a")
    assert mock_backend.unblacklist("store-b", buyer["member_id"])["outcome"] == "removed"
    assert mock_backend.unblacklist("store-b", buyer["member_id"])["outcome"] == "not_listed"


def test_bad_fault_switch_is_refused(mock_backend: MockControl) -> None:
    assert mock_backend.request("POST", "/faults", json={"layout": "v9"}).status_code == 422
    assert mock_backend.request("POST", "/faults", json={"no_such": 1}).status_code == 422
    assert mock_backend.state()["faults"]["layout"] == "v1"


def test_faults_merge_partially(mock_backend: MockControl) -> None:
    mock_backend.set_faults(latency_ms=5)
    faults = mock_backend.set_faults(blacklist_capacity=10)
    assert faults["latency_ms"] == 5
    assert faults["blacklist_capacity"] == 10
    assert mock_backend.state()["faults"] == faults


def test_reset_restores_seed_data_and_faults(mock_backend: MockControl) -> None:
    before = mock_backend.state(buyers=True)
    buyer = mock_backend.add_buyer("Temporary")
    mock_backend.place_order("store-a", buyer["member_id"])
    mock_backend.blacklist("store-c", buyer["member_id"])
    mock_backend.set_faults(layout="v2", latency_ms=1)
    mock_backend.reset()
    assert mock_backend.state(buyers=True) == before


def test_unknown_store_is_404(mock_backend: MockControl) -> None:
    response = mock_backend.request("POST", "/blacklist", json={"store_id": "store-x", "member_id": "1"})
    assert response.status_code == 404


def test_requests_are_counted_per_path_faulted_or_not_until_reset(
    mock_backend: MockControl, seller: SellerClient
) -> None:
    mock_backend.reset()
    mock_backend.set_faults(error_rate=1.0)
    assert seller.get("/static/shared/logo.png").status_code == 500
    mock_backend.set_faults(error_rate=0.0)
    assert seller.get("/static/shared/logo.png").headers["content-type"] == "image/png"
    seller.get("/customers")

    counts = mock_backend.requests()
    assert counts["/static/shared/logo.png"] == 2
    assert counts["/customers"] == 1
    assert not any(path.startswith("/__mock__") for path in counts)  # the control API is not counted
    mock_backend.reset()
    assert mock_backend.requests() == {}
