"""The selectors format's extensions, read on frozen samples without a browser: site time, value rules,
pagination modes, page-owned URLs, no silent empty list, and every selector checked at load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.backend.html import PageMismatch
from agent.backend.pages import CustomersPage, OrderDetailPage, OrdersPage
from agent.backend.selectors import load_selectors, shipped_dir
from agent.backend.values import Unreadable, ValueRule, format_date, parse_date, parse_timezone
from agent.errors import BackendError, ConfigError

SAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "pages"
BEIJING = parse_timezone("+08:00")


def sample(stem: str, page: str) -> str:
    return (SAMPLES / stem / f"{page}.html").read_text(encoding="utf-8")


def override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "local.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("2026/01/19 20:54:00", "%Y/%m/%d %H:%M:%S"),
        ("19/01/2026 20:54", "%d/%m/%Y %H:%M"),
        ("Jan 19, 2026 20:54", "%b %d, %Y %H:%M"),
        ("1768827240000", "epoch_ms"),
    ],
)
def test_site_dates_in_every_format_are_read_in_the_sites_zone(text: str, fmt: str) -> None:
    assert parse_date(text, (fmt,), BEIJING) == datetime(2026, 1, 19, 12, 54, tzinfo=UTC)


def test_an_empty_date_cell_is_none_and_a_wrong_format_is_unreadable() -> None:
    assert parse_date("-", ("%Y/%m/%d %H:%M:%S",), BEIJING) is None
    with pytest.raises(Unreadable, match="2026-01-19"):
        parse_date("2026-01-19 20:54", ("%Y/%m/%d %H:%M:%S",), BEIJING)


def test_created_after_is_written_in_the_sites_format_and_zone() -> None:
    orders = OrdersPage(load_selectors("mock-v3"))
    assert orders.created_after(datetime(2026, 1, 19, 12, 54, tzinfo=UTC)) == "2026/01/19 20:54:00"
    assert format_date(datetime(2026, 1, 19, 12, 54, tzinfo=UTC), "%b %d, %Y %H:%M", BEIJING) == (
        "Jan 19, 2026 20:54"
    )


def test_a_pattern_extracts_and_a_map_translates_and_an_unknown_word_is_refused() -> None:
    import re

    assert ValueRule(re.compile(r"ID:\s*(\d+)")).apply(" ID: 123456 · CN ") == "123456"
    status = ValueRule(words={"Blacklisted 已拉黑": "true", "Normal 正常": "false"})
    assert status.apply("Blacklisted   已拉黑") == "true"
    with pytest.raises(Unreadable, match="Frozen"):
        status.apply("Frozen 冻结")


def test_v3_customers_sample_reads_ids_flags_and_beijing_times() -> None:
    customers = CustomersPage(load_selectors("mock-v3"))
    view = customers.view("http://mock/crm/customers?pageNo=0", sample("mock-v3", "customers"))
    listing = customers.listing(view, 0)
    assert listing.total == 121
    assert len(listing.rows) == 50
    assert listing.has_next
    first = customers.customers(listing)[0]
    assert (first.member_id, first.country, first.blacklisted) == ("942375968", "US", True)
    assert first.last_order_at == datetime(2026, 1, 15, 1, 43, 54, tzinfo=UTC)  # 09:43:54 in Beijing
    entry = customers.entries(listing)[0]
    assert entry.blacklisted_at == datetime(2025, 11, 20, 14, 11, 35, tzinfo=UTC)
    assert {c.member_id for c in customers.customers(listing)} == {e["member_id"] for e in listing.rows}
    assert all(row["member_id"].isdigit() for row in listing.rows)


def test_v3_orders_sample_reads_statuses_in_the_agents_words() -> None:
    orders = OrdersPage(load_selectors("mock-v3"))
    listing = orders.listing(orders.view("http://mock/trade/orders", sample("mock-v3", "orders")), 0)
    read = orders.orders(listing)
    assert read
    assert all(o.order_id.isdigit() and o.member_id.isdigit() for o in read)
    assert {o.status for o in read} <= {"Awaiting shipment", "Shipped", "Completed", "In dispute"}
    assert all(o.created_at.tzinfo is not None and o.created_at.second == 0 for o in read)


def test_v3_order_detail_leads_to_the_blacklist_link() -> None:
    detail = OrderDetailPage(load_selectors("mock-v3"))
    view = detail.view("http://mock/trade/order/detail?orderId=1", sample("mock-v3", "order_detail"))
    member_id, _ = detail.buyer(view)
    target, form = detail.blacklist_request(view)
    assert form is None
    assert target.startswith("http://mock/risk/blacklist/confirm?buyerId=" + member_id)


@pytest.mark.parametrize("stem", ["mock-v1", "mock-v3"])
def test_a_row_selector_matching_nothing_on_a_full_page_is_an_error_naming_page_and_selector(
    stem: str, tmp_path: Path
) -> None:
    broken = override(tmp_path, '[pages.customers.selectors]\nrow = "section.no-such-row"\n')
    customers = CustomersPage(load_selectors(stem, broken))
    view = customers.view("http://mock/customers", sample(stem, "customers"))
    with pytest.raises(PageMismatch, match=r"page 'customers': selector 'row' \(section.no-such-row\)") as e:
        customers.listing(view, 0)
    assert "backend.selectors" in str(e.value)
    assert "selectors/README.md" in str(e.value)


def test_an_empty_list_the_page_agrees_with_reads_as_empty() -> None:
    customers = CustomersPage(load_selectors("mock-v3"))
    html = (
        '<div class="list-grid" data-grid="customers" role="grid"><div class="grid-head" role="row"></div>'
        '<div class="grid-empty">No data 暂无数据</div></div>'
        '<div class="pager"><span class="pager-total">共 0 条 / 0 records</span></div>'
    )
    assert customers.listing(customers.view("http://mock/crm/customers", html), 0).rows == []


def test_an_unreadable_value_names_page_field_and_text(tmp_path: Path) -> None:
    moved = override(tmp_path, '[pages.customers.fields.blacklisted]\ncss = "div[data-col=orders]"\n')
    customers = CustomersPage(load_selectors("mock-v3", moved))
    with pytest.raises(PageMismatch, match=r"'blacklisted'.*'2' is none of the mapped words .* in row 1"):
        customers.listing(customers.view("http://mock/crm", sample("mock-v3", "customers")), 0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            "[pages.customers.selectors]\nrow = \"div.grid-row:has-text('x')\"\n",
            "pages.customers.selectors.row",
        ),
        ('[pages.orders.fields]\nstatus = { css = "td[" }\n', "pages.orders.fields.status.css"),
        (
            '[pages.orders.fields]\norder_id = { css = "td", pattern = "(" }\n',
            "pages.orders.fields.order_id.pattern",
        ),
        (
            '[pages.orders.fields]\ncreated_at = { css = "td", format = "yyyy-MM-dd" }\n',
            "pages.orders.fields.created_at.format",
        ),
        ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone"),
        ('[pages.customers]\nurl = "/c?p={pg}"\n', "pages.customers.url"),
        ('[pages.customers]\npagination = { mode = "offset" }\n', "pages.customers.url"),
        ('[pages.customers]\nstrategy = "json"\n', "pages.customers.api"),
    ],
)
def test_every_problem_is_found_at_load_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_selectors("mock-v1", override(tmp_path, text))
    assert caught.value.key == key, str(caught.value)
    assert key in str(caught.value)


def test_no_url_template_name_is_written_in_the_agents_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (shipped_dir().parent / "agent").rglob("*.py"))
    for name in ("blacklist_link", "orders_since", "login_verify", "customers_api", "order_detail_url"):
        assert f'"{name}"' not in code, name


def test_a_removal_control_that_is_neither_link_nor_form_says_which_strategy_to_set(tmp_path: Path) -> None:
    text = '[pages.customers.row_actions]\nremove = { css = "div[data-col=status] span.status-tag" }\n'
    customers = CustomersPage(load_selectors("mock-v3", override(tmp_path, text)))
    view = customers.view("http://mock/crm", sample("mock-v3", "customers"))
    with pytest.raises(BackendError, match='action_strategy = "browser"'):
        customers.removal_request(view, "942375968")
