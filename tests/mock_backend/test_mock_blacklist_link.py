"""The blacklist link: a confirmation page that changes nothing, then five distinguishable outcomes."""

from __future__ import annotations

import pytest

from fixtures.mock_backend.testing import MockControl, SellerClient, attr, hidden_fields, one, parse

ODD_NAMES = [
    "a&memberId=1",
    "Tom & Jerry + Co",
    "Shop #1 100% real",
    "Mary/Jane = x?y",
    "Siobhán O'Brien",
    "  spaced  name ",
    "Дмитрий Иванов",
    "王伟",
]


def confirm_and_submit(seller: SellerClient, member_id: str, name: str) -> str:
    """Open the link, submit the confirmation form as the page built it; returns the outcome shown."""
    confirm = seller.get("/blacklist/add", params={"memberId": member_id, "name": name}).text
    form = "form#blacklist-confirm-form"
    result = seller.post(attr(confirm, form, "action"), hidden_fields(confirm, form)).text
    return attr(result, "div#blacklist-result", "data-outcome")


def test_confirmation_page_changes_nothing(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Tom & Jerry")
    page = seller.get("/blacklist/add", params={"memberId": buyer["member_id"], "name": buyer["name"]}).text
    assert one(page, "#confirm-member-id").text() == buyer["member_id"]
    assert one(page, "#confirm-name").text() == "Tom & Jerry"
    assert one(page, "form#blacklist-confirm-form button#confirm-button").text() == "Confirm"
    assert buyer["member_id"] not in mock_backend.blacklist_ids()


@pytest.mark.parametrize("name", ODD_NAMES)
def test_link_with_special_characters_blacklists_exactly_that_buyer(
    seller: SellerClient, mock_backend: MockControl, name: str
) -> None:
    before = mock_backend.blacklist_ids()
    buyer = mock_backend.add_buyer(name)
    assert confirm_and_submit(seller, buyer["member_id"], name) == "added"
    assert mock_backend.blacklist_ids() == [buyer["member_id"], *before]
    assert mock_backend.store()["blacklist"][0]["name"] == name


def test_unencoded_ampersand_in_the_name_never_blacklists_anyone_else(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    victim = mock_backend.add_buyer("Innocent", member_id="1")
    buyer = mock_backend.add_buyer("a&memberId=1")
    # A naive link builder that forgets to encode: the name is cut and memberId appears twice.
    page = seller.get(f"/blacklist/add?memberId={buyer['member_id']}&name=a&memberId=1").text
    fields = hidden_fields(page, "form#blacklist-confirm-form")
    assert fields["memberId"] == "1"
    assert fields["name"] == "a"
    result = seller.post("/blacklist/add", fields).text
    assert attr(result, "#blacklist-result", "data-outcome") == "name_mismatch"
    assert victim["member_id"] not in mock_backend.blacklist_ids()


def test_blacklisting_twice_is_idempotent(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Ana & Luís")
    assert confirm_and_submit(seller, buyer["member_id"], buyer["name"]) == "added"
    assert confirm_and_submit(seller, buyer["member_id"], buyer["name"]) == "already_blacklisted"
    assert mock_backend.blacklist_ids().count(buyer["member_id"]) == 1


@pytest.mark.parametrize("name", ["Ana & Luis", "ana & luís", "Ana & Luís ", "Ana"])
def test_name_must_match_exactly(seller: SellerClient, mock_backend: MockControl, name: str) -> None:
    buyer = mock_backend.add_buyer("Ana & Luís")
    assert confirm_and_submit(seller, buyer["member_id"], name) == "name_mismatch"
    assert buyer["member_id"] not in mock_backend.blacklist_ids()


def test_unknown_member_id_is_reported(seller: SellerClient, mock_backend: MockControl) -> None:
    assert confirm_and_submit(seller, "999", "Nobody") == "unknown_buyer"


def test_full_blacklist_refuses_new_buyers(seller: SellerClient, mock_backend: MockControl) -> None:
    mock_backend.set_faults(blacklist_capacity=len(mock_backend.blacklist_ids()))
    buyer = mock_backend.add_buyer("Late Comer")
    assert confirm_and_submit(seller, buyer["member_id"], buyer["name"]) == "blacklist_full"
    assert buyer["member_id"] not in mock_backend.blacklist_ids()


def test_each_outcome_has_its_own_element(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Q&A=42?")
    seller.get("/")
    ids = set()
    for member_id, name in [
        (buyer["member_id"], "Q&A=42?"),
        (buyer["member_id"], "Q&A=42?"),
        (buyer["member_id"], "x"),
        ("5", "x"),
    ]:
        result = seller.post("/blacklist/add", {"memberId": member_id, "name": name}).text
        ids.add(attr(result, "#blacklist-result p.result-message", "id"))
    assert ids == {"result-added", "result-already", "result-mismatch", "result-unknown"}


def test_link_without_a_name_says_it_is_incomplete(seller: SellerClient) -> None:
    page = seller.get("/blacklist/add?memberId=123").text
    assert one(page, "#confirm-error")
    assert not parse(page).css("form#blacklist-confirm-form")


def test_confirm_record_name_fault_shows_and_posts_the_buyers_own_name(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    buyer = mock_backend.add_buyer("Ana & Luís")
    mock_backend.set_faults(confirm_record_name=True)
    page = seller.get("/blacklist/add", params={"memberId": buyer["member_id"], "name": "Someone Else"}).text
    assert one(page, "#confirm-name").text() == "Ana & Luís"
    assert confirm_and_submit(seller, buyer["member_id"], "Someone Else") == "added"  # no longer refused
