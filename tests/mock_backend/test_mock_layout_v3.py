"""Layout v3: a Chinese/English seller center unlike v1 and v2 on every axis a selectors file must cover.

Div grids without ids in attributes, Beijing time in three formats, 0-based and offset pagination that
repeats the last page past the end behind a disabled *Next*, removal by a GET link with a token, outcomes
told apart only by wording, its own CSRF field name and URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page

from fixtures.mock_backend.samples import refresh_v3
from fixtures.mock_backend.testing import MockControl, SellerClient, attr, hidden_fields, one, parse, texts

BEIJING = timezone(timedelta(hours=8))  # Asia/Shanghai: no daylight saving time since 1991
CUSTOMER_ROWS = "div.list-grid[data-grid=customers] div.grid-row"
ORDER_ROWS = "div.list-grid[data-grid=orders] div.grid-row"
MEMBER_ID = re.compile(r"ID: (\d+)")


@pytest.fixture
def seller(mock_backend: MockControl, new_seller: Callable[..., SellerClient]) -> SellerClient:
    """The seller of store-a, signed in through v3's own login form."""
    mock_backend.set_faults(layout="v3")
    return new_seller()


def beijing(iso: str, fmt: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BEIJING).strftime(fmt)


def member_ids(html: str, rows: str = CUSTOMER_ROWS) -> list[str]:
    """Member ids as a reader must get them: a pattern inside the buyer cell's text."""
    return [MEMBER_ID.findall(text)[0] for text in texts(html, f"{rows} div[data-col=buyer] span.buyer-meta")]


def outcome_page(seller: SellerClient, member_id: str, name: str) -> str:
    """Follow v3's blacklist link and confirm it as-is; returns the result page."""
    confirm = seller.get("/risk/blacklist/confirm", params={"buyerId": member_id, "buyerName": name}).text
    form = "form.dialog-form"
    return seller.post(attr(confirm, form, "action"), hidden_fields(confirm, form), csrf=False).text


def test_v3_lists_are_div_grids_with_bilingual_words(seller: SellerClient, mock_backend: MockControl) -> None:
    page = seller.get("/crm/customers").text
    assert not parse(page).css("table")
    assert "Buyer 买家" in texts(page, "div.grid-head div.grid-th")
    statuses = texts(page, f"{CUSTOMER_ROWS} div[data-col=status]")
    customers = mock_backend.store(full=True)["customers"][:50]
    assert statuses == ["Blacklisted 已拉黑" if c["blacklisted"] else "Normal 正常" for c in customers]
    assert "Normal 正常" in statuses
    orders = seller.get("/trade/orders").text
    words = set(texts(orders, f"{ORDER_ROWS} div[data-col=status]"))
    assert words <= {"Awaiting shipment 待发货", "Shipped 已发货", "Finished 已完成", "In dispute 纠纷中"}
    assert "Finished 已完成" in words


def test_v3_member_ids_are_text_inside_a_larger_text_node(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    page = seller.get("/crm/customers").text
    customers = mock_backend.store(full=True)["customers"][:50]
    first = customers[0]
    assert (
        texts(page, f"{CUSTOMER_ROWS} span.buyer-meta")[0] == f"ID: {first['member_id']} · {first['country']}"
    )
    assert member_ids(page) == [c["member_id"] for c in customers]
    assert first["member_id"] not in " ".join(
        str(v) for row in parse(page).css(CUSTOMER_ROWS) for v in row.attributes.values()
    )
    order = mock_backend.store(full=True)["orders"][0]
    orders = seller.get("/trade/orders").text
    assert texts(orders, f"{ORDER_ROWS} span.order-no")[0] == f"Order No. 订单号: {order['order_id']}"


def test_v3_times_are_beijing_time_in_a_format_per_page(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    store = mock_backend.store(full=True)
    customer, order = store["customers"][0], store["orders"][0]
    customers = seller.get("/crm/customers").text
    shown = texts(customers, f"{CUSTOMER_ROWS} div[data-col=lastOrder]")[0]
    assert shown == beijing(customer["last_order_at"], "%Y/%m/%d %H:%M:%S")  # 2026/01/19 20:54:00
    orders = seller.get("/trade/orders").text
    assert texts(orders, f"{ORDER_ROWS} div[data-col=created]")[0] == beijing(
        order["created_at"], "%d/%m/%Y %H:%M"
    )
    detail = seller.get("/trade/order/detail", params={"orderId": order["order_id"]}).text
    at = datetime.fromisoformat(order["created_at"]).astimezone(BEIJING)
    assert f"Created 下单时间: {at:%b} {at.day}, {at.year} {at:%H:%M}" in texts(detail, "div.detail-line")
    blacklist = seller.get("/crm/customers?tab=blacklist").text
    entry = store["blacklist"][0]
    assert texts(blacklist, f"{CUSTOMER_ROWS} div[data-col=blacklistedAt]")[0] == beijing(
        entry["blacklisted_at"], "%Y/%m/%d %H:%M:%S"
    )
    assert "Beijing time (GMT+8)" in one(customers, "div.site-footer").text()


def test_v3_created_from_filter_is_beijing_time_in_the_site_format(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    orders = mock_backend.store(full=True)["orders"]
    created = [datetime.fromisoformat(o["created_at"]) for o in orders]
    # An order with others less than 8 hours before and after it: a filter read 8 hours off either way
    # (UTC taken for Beijing time, or the other way round) lists another set of orders.
    near = timedelta(hours=8)
    k = next(
        i
        for i in range(1, len(orders) - 1)
        if created[i - 1] - created[i] < near and created[i] - created[i + 1] < near
    )
    local = created[k].astimezone(BEIJING).strftime("%Y/%m/%d %H:%M:%S")
    page = seller.get("/trade/orders", params={"createdFrom": local}).text
    assert [f"Order No. 订单号: {o['order_id']}" for o in orders[:k]] == texts(
        page, f"{ORDER_ROWS} span.order-no"
    )
    assert one(page, "span.pager-total").text() == f"共 {k} 条 / {k} records"
    iso = seller.get("/trade/orders", params={"createdFrom": created[k].isoformat()}).text
    assert "时间格式错误" in one(iso, "div.search-error").text()


def test_v3_customers_pages_count_from_zero_and_repeat_the_last_past_the_end(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    everyone = [c["member_id"] for c in mock_backend.store(full=True)["customers"]]
    assert len(everyone) == 121
    assert member_ids(seller.get("/crm/customers?pageNo=0").text) == everyone[:50]
    assert member_ids(seller.get("/crm/customers?pageNo=1").text) == everyone[50:100]
    last = seller.get("/crm/customers?pageNo=2").text
    assert member_ids(last) == everyone[100:]
    for past in (3, 99):
        assert member_ids(seller.get(f"/crm/customers?pageNo={past}").text) == everyone[100:]
    assert one(last, "span.pager-current").text() == "3 / 3"  # shown from 1, addressed from 0


def test_v3_orders_use_offset_and_limit_and_repeat_the_last_page_past_the_end(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    ids = [f"Order No. 订单号: {o['order_id']}" for o in mock_backend.store(full=True)["orders"]]
    page = "div.list-grid[data-grid=orders] span.order-no"
    assert texts(seller.get("/trade/orders?offset=20&limit=10").text, page) == ids[20:30]
    assert texts(seller.get("/trade/orders?offset=50&limit=50").text, page) == ids[50:60]
    assert texts(seller.get("/trade/orders?offset=100&limit=50").text, page) == ids[50:60]
    assert texts(seller.get("/trade/orders?offset=5000&limit=50").text, page) == ids[50:60]


def test_v3_next_stays_on_the_last_page_marked_disabled(seller: SellerClient) -> None:
    first = seller.get("/crm/customers?pageNo=0").text
    assert attr(first, "a.pager-next", "href") == "/crm/customers?pageNo=1&pageSize=50"
    assert not parse(first).css("a.pager-next[aria-disabled]")
    last = seller.get("/crm/customers?pageNo=2").text
    nxt = one(last, "a.pager-next")  # a naive next_page selector still matches here
    assert nxt.attributes["aria-disabled"] == "true"
    assert "is-disabled" in (nxt.attributes["class"] or "")
    again = seller.get(nxt.attributes["href"] or "").text
    assert member_ids(again) == member_ids(last)
    assert one(seller.get("/trade/orders?offset=50&limit=50").text, "a.pager-next").attributes["href"] == (
        "/trade/orders?offset=100&limit=50"
    )


def test_v3_lists_show_their_total_in_words(seller: SellerClient, mock_backend: MockControl) -> None:
    counts = mock_backend.store()["counts"]
    page = seller.get("/crm/customers?pageNo=1").text
    assert one(page, "div.pager span.pager-total").text() == "共 121 条 / 121 records"
    blacklist = seller.get("/crm/customers?tab=blacklist").text
    assert (
        one(blacklist, "span.pager-total").text()
        == f"共 {counts['blacklist']} 条 / {counts['blacklist']} records"
    )
    orders = seller.get("/trade/orders").text
    assert one(orders, "span.pager-total").text() == f"共 {counts['orders']} 条 / {counts['orders']} records"


def test_v3_removal_is_a_get_link_carrying_the_session_token(
    seller: SellerClient, mock_backend: MockControl
) -> None:
    member_id = mock_backend.blacklist_ids()[0]
    page = seller.get("/crm/customers?tab=blacklist").text
    assert not parse(page).css(f"{CUSTOMER_ROWS} form")
    link = one(page, f"a.op-link[href^='/risk/blacklist/remove?memberId={member_id}&']")
    assert link.attributes["onclick"] == "return confirm(this.dataset.confirm)"
    href = link.attributes["href"] or ""
    assert f"token={seller.csrf}" in href
    answer = seller.get(href)
    assert answer.status_code == 302
    assert member_id not in mock_backend.blacklist_ids()
    notice = one(seller.follow(answer).text, "div.notice-bar").text()
    assert notice == "Removed from blacklist 已移出黑名单"


def test_v3_removal_without_the_token_is_refused(seller: SellerClient, mock_backend: MockControl) -> None:
    member_id = mock_backend.blacklist_ids()[0]
    for query in (f"memberId={member_id}", f"memberId={member_id}&token=forged"):
        answer = seller.get(f"/risk/blacklist/remove?{query}")
        assert answer.status_code == 403
        assert "请求无效" in one(answer.text, "div.result-page__title").text()
    assert member_id in mock_backend.blacklist_ids()


def test_v3_outcomes_differ_only_by_wording(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("Tom & Jerry + Co")
    results = {
        "added": outcome_page(seller, buyer["member_id"], buyer["name"]),
        "already": outcome_page(seller, buyer["member_id"], buyer["name"]),
        "mismatch": outcome_page(seller, mock_backend.add_buyer("Ann")["member_id"], "Anna"),
        "unknown": outcome_page(seller, "999999999999999", "Nobody"),
    }
    mock_backend.set_faults(blacklist_capacity=1)
    results["full"] = outcome_page(seller, mock_backend.add_buyer("Bo")["member_id"], "Bo")
    words = {}
    for outcome, html in results.items():
        node = one(html, "div.op-result > *")
        assert (node.tag, node.attributes) == ("p", {"class": "op-result__text"}), outcome
        assert not parse(html).css("[data-outcome], [data-code]")
        words[outcome] = node.text()
    assert words == {
        "added": "Added to the blacklist successfully 已成功加入黑名单",
        "already": "This buyer is already in your blacklist 该买家已在黑名单中",
        "mismatch": "The buyer ID and name do not match 买家ID与姓名不匹配",
        "unknown": "The buyer does not exist 买家不存在",
        "full": "Your blacklist is full (1 buyers), remove some first "
        "黑名单已满（上限 1 人），请先移除部分买家",
    }
    assert buyer["member_id"] in mock_backend.blacklist_ids()


def test_v3_forms_carry_a_request_verification_token(seller: SellerClient, mock_backend: MockControl) -> None:
    buyer = mock_backend.add_buyer("a&memberId=1")
    confirm = seller.get(
        "/risk/blacklist/confirm", params={"buyerId": buyer["member_id"], "buyerName": buyer["name"]}
    ).text
    fields = hidden_fields(confirm, "form.dialog-form")
    assert set(fields) == {"__RequestVerificationToken", "buyerId", "buyerName"}
    assert fields["buyerName"] == "a&memberId=1"
    assert not parse(confirm).css("input[name=_csrf], input[name=_token], meta[name=csrf-token]")
    token = fields.pop("__RequestVerificationToken")
    renamed = {**fields, "_csrf": token}
    assert seller.post("/risk/blacklist/confirm", renamed, csrf=False).status_code == 403
    assert buyer["member_id"] not in mock_backend.blacklist_ids()


def test_v3_login_and_code_pages_have_their_own_fields_and_wording(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout="v3", otp_required=True)
    login, password = mock_backend.credentials()
    client = new_seller(login=False)
    refused = client.login(login, "wrong").text
    assert one(refused, "div.auth-tip--error").text() == "Incorrect account or password 账号或密码错误"
    assert set(hidden_fields(refused, "form.auth-form")) == {"__RequestVerificationToken", "next"}
    code_page = client.follow(client.login(login, password)).text
    assert one(code_page, "form.auth-form[action='/login/verify'] input[name=smsCode]")
    answer = client.post("/login/verify", {"smsCode": mock_backend.otp(login) or ""})
    assert answer.status_code == 303
    assert one(client.follow(answer).text, "div.entry-group[data-entry-group=customer-marketing]")


def test_v3_order_detail_leads_to_the_blacklist_link(seller: SellerClient, mock_backend: MockControl) -> None:
    order = mock_backend.store(full=True)["orders"][0]
    detail = seller.get("/trade/order/detail", params={"orderId": order["order_id"]}).text
    block = "div.detail-card[data-card=buyer]"
    assert one(detail, f"{block} a.buyer-nick").text() == order["buyer_name"]
    assert MEMBER_ID.findall(one(detail, f"{block} div.buyer-meta").text()) == [order["member_id"]]
    action = one(detail, f"{block} a.btn-danger")
    assert action.text() == "Add buyer to blacklist 拉黑买家"
    confirm = seller.get(action.attributes["href"] or "").text
    result = seller.post("/risk/blacklist/confirm", hidden_fields(confirm, "form.dialog-form"), csrf=False)
    assert one(result.text, "p.op-result__text").text().startswith("Added to the blacklist")
    assert order["member_id"] in mock_backend.blacklist_ids()
    buyer = seller.get("/crm/member", params={"memberId": order["member_id"]}).text
    assert one(buyer, "div[data-card=member] span.status-tag").text() == "Blacklisted 已拉黑"


def test_each_layout_has_only_its_own_paths(seller: SellerClient, mock_backend: MockControl) -> None:
    for path in ("/customers", "/orders", "/blacklist/add?memberId=1&name=x"):
        assert seller.get(path).status_code == 404
    mock_backend.set_faults(layout="v1")
    for path in ("/crm/customers", "/trade/orders", "/risk/blacklist/confirm?buyerId=1&buyerName=x"):
        assert seller.get(path).status_code == 404


def test_refresh_saves_every_v3_page_and_counts_selectors_on_it(
    mock_backend: MockControl, tmp_path: Path
) -> None:
    # A few selectors per page, in the shipped format, to prove the sample walk and its counting;
    # selectors/mock-v3.toml (the agent's file) is proven by tests/selectors/ once it exists.
    pages = {
        "login": 'error = "div.auth-tip--error"\n[pages.login.outcomes]\n'
        'invalid = { css = "div.auth-tip", text = "Incorrect" }\n'
        'locked = { css = "div.auth-tip", text = "locked" }',
        "otp": 'code = "input[name=smsCode]"',
        "home": "customers_entry = \"div.entry-group a.entry-link[href='/crm/customers']\"",
        "customers": f'row = "{CUSTOMER_ROWS}"\nnext_page = "a.pager-next:not(.is-disabled)"\n'
        "[pages.customers.row_actions]\nremove = \"a.op-link[href^='/risk/blacklist/remove?']\"\n"
        '[pages.customers.outcomes]\nremoved = { css = "div.notice-bar", text = "^Removed" }',
        "orders": f'row = "{ORDER_ROWS}"\n[pages.orders.fields]\ncreated_at = "div[data-col=created]"',
        "order_detail": 'blacklist_action = "div[data-card=buyer] a.btn-danger"',
        "buyer": 'name = "div[data-card=member] span.buyer-nick"',
        "blacklist_confirm": 'form = "form.dialog-form"',
        "blacklist_result": 'message = "p.op-result__text"\n[pages.blacklist_result.outcomes]\n'
        'added = { css = "p.op-result__text", text = "^Added" }\n'
        'already_blacklisted = { css = "p.op-result__text", text = "already" }',
    }
    toml = "\n".join(f"[pages.{page}.selectors]\n{body}" for page, body in pages.items())
    (tmp_path / "mock-v3.toml").write_text(toml, encoding="utf-8")
    assert refresh_v3(mock_backend, tmp_path / "out", tmp_path) == []
    assert {p.name for p in (tmp_path / "out" / "mock-v3").glob("*.html")} == {f"{p}.html" for p in pages}
    (tmp_path / "mock-v3.toml").write_text(toml.replace("^Added", "^Removed"), encoding="utf-8")
    assert refresh_v3(mock_backend, tmp_path / "out", tmp_path) == [
        "mock-v3/blacklist_result: outcomes.added = 'p.op-result__text' matches 0, expected 1"
    ]


# Through real Chromium: the quick entry, and the confirm() on the removal link.


def sign_in(page: Page, mock: MockControl, path: str) -> None:
    mock.set_faults(layout="v3")
    login, password = mock.credentials()
    page.goto(mock.url + path)
    page.fill("input[name=loginId]", login)
    page.fill("input[name=password]", password)
    page.click("text=Sign in 登录")
    page.wait_for_url(mock.url + path)


def test_v3_quick_entry_leads_to_the_historical_customers(page: Page, mock_backend: MockControl) -> None:
    sign_in(page, mock_backend, "/")
    assert page.locator("text=Historical Customer Statistics and Marketing").is_visible()
    page.click("text=Historical Customer Information Statistics")
    page.wait_for_url(mock_backend.url + "/crm/customers")
    assert page.locator(CUSTOMER_ROWS).count() == 50


def test_v3_removal_link_asks_first_and_dismissing_changes_nothing(
    page: Page, mock_backend: MockControl
) -> None:
    sign_in(page, mock_backend, "/crm/customers?tab=blacklist")
    messages: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    before = mock_backend.blacklist_ids()
    page.locator(CUSTOMER_ROWS).first.locator("text=Remove 移出黑名单").click()
    assert messages[0].startswith("Remove ")
    assert messages[0].endswith("确定将该买家移出黑名单？")
    assert mock_backend.blacklist_ids() == before


def test_v3_accepting_the_removal_returns_to_the_same_page(page: Page, mock_backend: MockControl) -> None:
    path = "/crm/customers?tab=blacklist&pageNo=0&pageSize=2"
    sign_in(page, mock_backend, path)
    member_id = mock_backend.blacklist_ids()[1]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"a.op-link[href^='/risk/blacklist/remove?memberId={member_id}&']").click()
    page.wait_for_selector("div.notice-bar")
    assert page.url == mock_backend.url + path
    assert member_id not in mock_backend.blacklist_ids()
