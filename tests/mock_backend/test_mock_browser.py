"""Through real Chromium: the login form, the JavaScript confirm dialogs and layout v2's rendered tables."""

from __future__ import annotations

from playwright.sync_api import Dialog, Page, Route

from fixtures.mock_backend.testing import MockControl


def sign_in(page: Page, mock: MockControl, path: str = "/", layout: str = "v1") -> None:
    login, password = mock.credentials()
    page.goto(mock.url + path)
    if layout == "v1":
        page.fill("#username", login)
        page.fill("#password", password)
        page.click("#login-submit")
    else:
        page.fill("input[name=account]", login)
        page.fill("input[name=password]", password)
        page.click("button[data-action=sign-in]")
    page.wait_for_url(mock.url + path)


def test_quick_entry_leads_to_the_customers_page(page: Page, mock_backend: MockControl) -> None:
    sign_in(page, mock_backend)
    page.click("text=Historical Customer Statistics and Marketing")
    page.click("text=Historical Customer Information Statistics")
    page.wait_for_url(mock_backend.url + "/customers")
    assert page.locator("tr.customer-row").count() == 50


def test_dismissing_the_confirm_dialog_changes_nothing(page: Page, mock_backend: MockControl) -> None:
    sign_in(page, mock_backend, "/customers?blacklisted=1")
    messages: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    before = mock_backend.blacklist_ids()
    page.locator("tr.customer-row").first.locator("button.blacklist-remove").click()
    assert messages[0].startswith("Remove ")
    assert mock_backend.blacklist_ids() == before


def test_accepting_the_confirm_dialog_removes_the_buyer(page: Page, mock_backend: MockControl) -> None:
    sign_in(page, mock_backend, "/customers?blacklisted=1")
    member_id = mock_backend.blacklist_ids()[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-member-id='{member_id}'] button.blacklist-remove").click()
    page.wait_for_selector("#flash.flash-removed")
    assert member_id not in mock_backend.blacklist_ids()


def test_v2_tables_are_rendered_by_javascript(page: Page, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    sign_in(page, mock_backend, "/customers?blacklisted=1", layout="v2")
    page.wait_for_selector("div.sc-grid[data-state=ready]")
    keys = page.locator("tr.sc-table__row td[data-col=memberId]").all_text_contents()
    assert keys == mock_backend.blacklist_ids()
    page.goto(mock_backend.url + "/orders?page=2")
    page.wait_for_selector("div.sc-grid[data-state=ready]")
    assert page.locator("tr.sc-table__row").count() == 10
    assert page.locator("a.sc-pager__prev").count() == 1


def test_v2_remove_action_asks_and_removes(page: Page, mock_backend: MockControl) -> None:
    mock_backend.set_faults(layout="v2")
    sign_in(page, mock_backend, "/customers?blacklisted=1", layout="v2")
    member_id = mock_backend.blacklist_ids()[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-row-key='{member_id}'] button[data-op=remove]").click()
    page.wait_for_selector("div.sc-toast[data-toast=removed]")
    assert member_id not in mock_backend.blacklist_ids()


def test_v2_table_sends_a_session_expired_after_page_load_to_login(
    page: Page, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout="v2")
    sign_in(page, mock_backend, "/", layout="v2")

    def expire_once_shell_is_served(route: Route) -> None:
        response = route.fetch()
        mock_backend.expire_sessions()  # the page is served, its JSON call will find the session gone
        route.fulfill(response=response)

    page.route(lambda url: url.endswith("/customers"), expire_once_shell_is_served)
    page.goto(mock_backend.url + "/customers")
    page.wait_for_url("**/login?next=%2Fcustomers")
    assert page.locator("form.sc-auth-form").count() == 1
