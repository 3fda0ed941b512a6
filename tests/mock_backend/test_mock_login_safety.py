"""The mock's login behaves like a real seller center's on every layout: it counts password submissions,
locks the account after five wrong ones with a message naming the minutes left, and answers a wrong
one-time code with a "wrong code" message on the code page."""

from __future__ import annotations

import re

import pytest

from fixtures.mock_backend.testing import MockControl, SellerClient, parse

LAYOUTS = ("v1", "v2", "v3")
_MINUTES = re.compile(r"try again in 5 minutes", re.IGNORECASE)


def page_text(html: str) -> str:
    body = parse(html).body
    return body.text(separator=" ", strip=True) if body is not None else ""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_five_wrong_passwords_lock_the_account_with_the_minutes_left(
    layout: str, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout=layout)
    login, password = mock_backend.credentials()
    client = SellerClient(mock_backend.url)
    answers = [page_text(client.login(login, f"wrong-{i}").text) for i in range(5)]
    right = page_text(client.login(login, password).text)  # refused too while locked
    client.close()

    assert not any(_MINUTES.search(a) for a in answers[:4])
    assert _MINUTES.search(answers[4]), answers[4]
    assert _MINUTES.search(right), right
    if layout == "v3":
        assert "请5分钟后再试" in right
    assert mock_backend.login_attempts() == 6
    assert mock_backend.is_locked()
    assert not mock_backend.is_locked("store-b")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_wrong_code_is_answered_on_the_code_page_and_the_right_one_still_works(
    layout: str, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(layout=layout, otp_required=True)
    login, password = mock_backend.credentials()
    client = SellerClient(mock_backend.url)
    client.follow(client.login(login, password))
    code = mock_backend.otp(login) or ""
    wrong = str((int(code) + 1) % 10**6).zfill(6)

    answer = client.post("/login/verify", {"code": wrong, "otp": wrong, "smsCode": wrong})
    assert answer.status_code == 200
    assert re.search(r"incorrect|wrong", page_text(answer.text), re.IGNORECASE)
    assert parse(answer.text).css_first("form[action='/login/verify']") is not None  # asked again
    done = client.post("/login/verify", {"code": code, "otp": code, "smsCode": code})
    client.close()

    assert done.status_code in (302, 303)
    assert mock_backend.login_attempts() == 1
