"""The driver under every fault switch of the mock backend, and under refused logins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backend_helpers import LAYOUTS, OpenStore, not_blacklisted, store_settings

from agent.backend.driver import PlaywrightBackend, open_playwright_backend
from agent.errors import BackendUnavailable, LoginFailed, LoginNeedsHuman, LoginOnHold
from agent.models import BlacklistOutcome
from fixtures.mock_backend.testing import MockControl


@pytest.fixture(scope="module")
def tough_shared(
    mock_server: MockControl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlaywrightBackend]:
    """A v1 driver with few retries (quick to give up), shared by the module (a browser costs seconds)."""
    settings = store_settings(mock_server, tmp_path_factory.mktemp("tough"), max_retries=3)
    with open_playwright_backend(settings, password=mock_server.credentials()[1]) as driver:
        yield driver


@pytest.fixture
def tough(tough_shared: PlaywrightBackend, mock_backend: MockControl) -> PlaywrightBackend:
    tough_shared.ensure_session()
    return tough_shared


def test_latency_is_tolerated(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    mock_backend.set_faults(latency_ms=150)
    assert [e.member_id for e in backend.read_blacklist()] == mock_backend.blacklist_ids()


def test_timeouts_end_in_backend_unavailable_naming_page_and_url(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    driver = open_store(timeout_seconds=2, max_retries=1)
    driver.ensure_session()
    mock_backend.set_faults(latency_ms=2500)
    with pytest.raises(BackendUnavailable, match="2 attempts") as caught:
        driver.read_blacklist()
    assert caught.value.page == "customers"
    assert "blacklisted=1" in str(caught.value.url)


def test_random_server_errors_are_retried(backend: PlaywrightBackend, mock_backend: MockControl) -> None:
    expected = {c["member_id"] for c in mock_backend.store(full=True)["customers"]}
    buyers = not_blacklisted(mock_backend, 6)
    mock_backend.set_faults(error_rate=0.35)
    assert {c.member_id for c in backend.read_customers()} == expected
    results = list(backend.blacklist_many(buyers))
    assert {r.outcome for r in results} == {BlacklistOutcome.ADDED}
    mock_backend.set_faults(error_rate=0)
    assert {b[0] for b in buyers} <= set(mock_backend.blacklist_ids())


def test_persistent_server_errors_raise_with_the_page_saved(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    driver = open_store(max_retries=2)
    driver.ensure_session()
    mock_backend.set_faults(error_rate=1.0)
    with pytest.raises(BackendUnavailable, match="HTTP 500") as caught:
        driver.blacklist_by_link("1", "x")
    html = [p for p in caught.value.artifacts if p.suffix == ".html"]
    png = [p for p in caught.value.artifacts if p.suffix == ".png"]
    assert html
    assert png
    assert png[0].stat().st_size > 0
    assert "Something went wrong" in html[0].read_text(encoding="utf-8")
    assert caught.value.page == "blacklist_confirm"


def test_rate_limit_answers_429_are_waited_out(tough: PlaywrightBackend, mock_backend: MockControl) -> None:
    driver = tough
    sent_before = driver.requests
    buyers = not_blacklisted(mock_backend, 8)
    mock_backend.set_faults(rate_limit=5)
    results = list(driver.blacklist_many(buyers))
    assert {r.outcome for r in results} == {BlacklistOutcome.ADDED}
    assert driver.requests - sent_before > 2 * len(buyers)  # some were refused and sent again


def test_session_expiry_mid_batch_logs_in_once_and_finishes(
    tough: PlaywrightBackend, mock_backend: MockControl
) -> None:
    driver = tough
    logins_before = driver.logins
    buyers = not_blacklisted(mock_backend, 10)

    def expire_after_third(done: int, total: int | None) -> None:
        if done == 3:
            mock_backend.expire_sessions("store-a")

    results = list(driver.blacklist_many(buyers, progress=expire_after_third))
    assert {r.outcome for r in results} == {BlacklistOutcome.ADDED}
    assert {b[0] for b in buyers} <= set(mock_backend.blacklist_ids())
    assert driver.logins == logins_before + 1


def test_a_code_demanded_mid_batch_stops_the_batch_with_login_needs_human(
    tough: PlaywrightBackend, mock_backend: MockControl
) -> None:
    buyers = not_blacklisted(mock_backend, 8)
    done: list[str] = []

    def new_device_check_after_second(count: int, total: int | None) -> None:
        if count == 2:
            mock_backend.set_faults(otp_required=True)
            mock_backend.expire_sessions("store-a")

    results = tough.blacklist_many(buyers, progress=new_device_check_after_second)
    with pytest.raises(LoginNeedsHuman):
        done.extend(result.member_id for result in results)
    assert 2 <= len(done) < len(buyers)
    assert set(done) <= set(mock_backend.blacklist_ids())


def test_one_time_code_without_a_human_raises_login_needs_human(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(otp_required=True)
    driver = open_store()
    with pytest.raises(LoginNeedsHuman, match="blacklist-agent login --interactive") as caught:
        driver.read_blacklist()
    assert caught.value.page == "otp"
    assert driver.logins == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_one_time_code_from_the_prompt_logs_in_and_is_remembered(
    open_store: OpenStore, mock_backend: MockControl, layout: str
) -> None:
    mock_backend.set_faults(otp_required=True, layout=layout)
    login, _ = mock_backend.credentials()
    asked: list[str] = []

    def prompt() -> str:
        code = mock_backend.otp(login)
        assert code is not None
        asked.append(code)
        return code

    driver = open_store(otp_prompt=prompt, selectors=f"mock-{layout}")
    assert [e.member_id for e in driver.read_blacklist()] == mock_backend.blacklist_ids()
    driver.close()
    assert len(asked) == 1
    mock_backend.expire_sessions("store-a")  # the next run must log in again, on a trusted device
    again = open_store(selectors=f"mock-{layout}")
    assert [e.member_id for e in again.read_blacklist()] == mock_backend.blacklist_ids()
    assert again.logins == 1


def test_a_full_blacklist_is_reported_not_hidden(tough: PlaywrightBackend, mock_backend: MockControl) -> None:
    driver = tough
    buyers = not_blacklisted(mock_backend, 3)
    before = mock_backend.blacklist_ids()
    mock_backend.set_faults(blacklist_capacity=len(before) + 1)
    results = list(driver.blacklist_many(buyers))
    assert [r.outcome for r in results] == [
        BlacklistOutcome.ADDED,
        BlacklistOutcome.FULL,
        BlacklistOutcome.FULL,
    ]
    assert not results[1].ok
    assert mock_backend.blacklist_ids() == [buyers[0][0], *before]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wrong_password_is_refused_once_and_never_tried_again(
    open_store: OpenStore, mock_backend: MockControl, layout: str
) -> None:
    mock_backend.set_faults(layout=layout)
    driver = open_store(password="not-the-password", selectors=f"mock-{layout}")
    with pytest.raises(LoginFailed) as caught:
        driver.ensure_session()
    refused = caught.value
    assert not refused.locked
    assert "not-the-password" not in str(refused)
    assert any(p.suffix == ".png" for p in refused.artifacts)
    for _ in range(4):  # four more wrong passwords would lock the account: none is sent
        with pytest.raises(LoginOnHold, match="blacklist-agent login"):
            driver.ensure_session()
    assert mock_backend.login_attempts() == 1
    assert not mock_backend.is_locked()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_server_error_answering_the_password_is_retried_not_taken_for_a_refusal(
    open_store: OpenStore, mock_backend: MockControl, layout: str
) -> None:
    mock_backend.set_faults(layout=layout, login_errors=2)
    driver = open_store(selectors=f"mock-{layout}")
    assert [e.member_id for e in driver.read_blacklist()] == mock_backend.blacklist_ids()
    assert driver.logins == 1
    assert mock_backend.login_attempts() == 1  # the two 500s came before the password was looked at
    driver.close()
    again = open_store(selectors=f"mock-{layout}")  # no refusal on record: a new process may log in
    mock_backend.expire_sessions("store-a")
    assert [e.member_id for e in again.read_blacklist()] == mock_backend.blacklist_ids()


def test_a_login_service_that_keeps_failing_is_unavailable_not_a_refusal(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    mock_backend.set_faults(login_errors=100)
    driver = open_store(max_retries=1)
    with pytest.raises(BackendUnavailable, match="HTTP 500") as caught:
        driver.ensure_session()
    assert caught.value.page == "login"
    mock_backend.set_faults(login_errors=0)
    driver.ensure_session()  # the next try logs in: nothing was recorded against the password
    assert driver.logins == 1


def test_an_ended_session_is_renewed_on_every_layout(
    backend: PlaywrightBackend, mock_backend: MockControl
) -> None:
    backend.ensure_session()
    logins_before = backend.logins
    mock_backend.expire_sessions("store-a")  # v1 redirects to the login page, v2's JSON API answers 401
    assert [e.member_id for e in backend.read_blacklist()] == mock_backend.blacklist_ids()
    assert backend.logins == logins_before + 1
