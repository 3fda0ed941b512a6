"""The "verify new device" one-time code, trusted devices, and the lockout after five wrong passwords."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from fixtures.mock_backend.testing import MockControl, SellerClient, one, parse


def test_new_device_must_enter_the_sms_code(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(otp_required=True)
    client = new_seller(login=False)
    response = client.login(*mock_backend.credentials(), next_path="/orders")
    assert response.headers["location"] == "/login/verify"
    assert one(client.follow(response).text, "form#otp-form input#otp-code")
    assert client.get("/orders").status_code == 302  # not signed in until the code is entered
    code = mock_backend.otp("seller-a")
    assert code is not None
    assert len(code) == 6
    verified = client.post("/login/verify", {"code": code})
    assert verified.headers["location"] == "/orders"
    assert client.get("/orders").status_code == 200
    assert mock_backend.otp("seller-a") is None


def test_wrong_code_shows_an_error(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(otp_required=True)
    client = new_seller(login=False)
    client.login(*mock_backend.credentials())
    code = mock_backend.otp("seller-a") or ""
    wrong = str((int(code) + 1) % 10**6).zfill(6)
    assert one(client.post("/login/verify", {"code": wrong}).text, "#otp-error")
    assert client.get("/").status_code == 302


def test_trusted_device_skips_the_code_next_time(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(otp_required=True)
    client = new_seller(login=False)
    client.login(*mock_backend.credentials())
    client.post("/login/verify", {"code": mock_backend.otp("seller-a") or ""})
    client.get("/")
    assert client.post("/logout").status_code == 303
    assert client.login(*mock_backend.credentials()).headers["location"] == "/"
    other_browser = new_seller(login=False)
    assert other_browser.login(*mock_backend.credentials()).headers["location"] == "/login/verify"


def test_no_code_pending_is_404(mock_backend: MockControl) -> None:
    assert mock_backend.otp("seller-a") is None


def test_five_wrong_passwords_lock_the_account(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    client = new_seller(login=False)
    pages = [client.login("seller-a", f"wrong-{i}").text for i in range(5)]
    assert all(parse(p).css("#login-error") for p in pages[:4])
    assert one(pages[4], "#login-locked")
    locked = client.login(*mock_backend.credentials())
    assert one(locked.text, "#login-locked")
    assert client.get("/").status_code == 302
    assert new_seller("store-b").get("/").status_code == 200  # other accounts are not locked


def test_reset_lifts_the_lockout(new_seller: Callable[..., SellerClient], mock_backend: MockControl) -> None:
    client = new_seller(login=False)
    for i in range(5):
        client.login("seller-a", f"wrong-{i}")
    mock_backend.reset()
    assert client.login(*mock_backend.credentials()).status_code == 303


def test_otp_in_chromium(page: Page, mock_backend: MockControl) -> None:
    mock_backend.set_faults(otp_required=True, layout="v2")
    login, password = mock_backend.credentials()
    page.goto(mock_backend.url + "/login")
    page.fill("input[name=account]", login)
    page.fill("input[name=password]", password)
    page.click("button[data-action=sign-in]")
    page.fill("form.sc-verify-form input[name=otp]", mock_backend.otp(login) or "")
    page.click("button[data-action=verify]")
    page.wait_for_selector("div.sc-shortcut-group[data-group=customer-marketing]")
    assert any(c["name"] == "mock_device" for c in page.context.cookies())


def test_five_wrong_codes_void_the_code(
    new_seller: Callable[..., SellerClient], mock_backend: MockControl
) -> None:
    mock_backend.set_faults(otp_required=True)
    client = new_seller(login=False)
    client.login(*mock_backend.credentials())
    code = mock_backend.otp("seller-a") or ""
    wrong = str((int(code) + 1) % 10**6).zfill(6)
    answers = [client.post("/login/verify", {"code": wrong}).text for _ in range(5)]
    assert all(parse(a).css("#otp-error") for a in answers[:4])
    assert one(answers[4], "form#login-form")
    assert mock_backend.otp("seller-a") is None
    assert client.post("/login/verify", {"code": code}).headers["location"] == "/login"
