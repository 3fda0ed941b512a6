"""The dashboard's parts that need no browser: the guard's checks, the one-time code hand-off of a login job,
the config file edited in place, and the settings preview over a local state.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from agent.errors import ConfigError, CycleBusy
from agent.hub_models import SharedEntry
from agent.onboarding import SetupValues, update_config, write_config
from agent.state import LocalState
from agent.sync.policy import Policy
from agent.ui.jobs import Job, Jobs
from agent.ui.security import Guard
from agent.ui.views import policy_preview


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1:8765", True),
        ("localhost:8765", True),
        ("[::1]:8765", True),
        ("LOCALHOST:8765", True),
        ("127.0.0.1:8766", False),  # another local service's port
        ("127.0.0.1", False),
        ("evil.example:8765", False),  # DNS rebinding: the attacker's name, our address
        ("127.0.0.1.evil.example:8765", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_names_with_the_dashboards_port_pass(host: str | None, ok: bool) -> None:
    assert Guard(port=8765).host_ok(host) is ok


def test_a_link_key_opens_one_session_only() -> None:
    guard = Guard(port=8765)
    key = guard.new_link("http://127.0.0.1:8765").rsplit("key=", 1)[1]

    cookie = guard.spend_key(key)

    assert cookie is not None
    assert guard.session(cookie) is not None
    assert guard.spend_key(key) is None
    assert guard.session("made-up") is None


def test_a_post_needs_the_sessions_token_and_no_foreign_origin() -> None:
    guard = Guard(port=8765)
    cookie = guard.spend_key(guard.new_link("http://127.0.0.1:8765").rsplit("key=", 1)[1])
    session = guard.session(cookie)
    assert session is not None
    form = "application/x-www-form-urlencoded"
    base = {"host": "127.0.0.1:8765", "content-type": form}

    def check(body: str, **headers: str) -> str | None:
        return guard.post_ok(Headers({**base, **headers}), body.encode(), session)

    assert check(f"member_id=1&csrf={session.csrf}") is None
    assert check("member_id=1", **{"x-csrf-token": session.csrf}) is None  # htmx sends a header
    assert check(f"csrf={session.csrf}", origin="http://127.0.0.1:8765") is None
    assert check("member_id=1") is not None
    assert check("csrf=nope") is not None
    assert check(f"csrf={session.csrf}", origin="http://evil.example") is not None
    assert check(f"csrf={session.csrf}", origin="null") is not None  # a sandboxed frame
    assert check(f"csrf={session.csrf}", **{"sec-fetch-site": "cross-site"}) is not None


def test_a_login_job_waits_for_the_code_typed_into_the_page() -> None:
    job = Job("j1", "login", "Log in", "/setup")
    answer: list[str] = []
    waiting = threading.Thread(target=lambda: answer.append(job.ask_code()))
    waiting.start()
    while job.state != "waiting-for-code":
        threading.Event().wait(0.01)

    assert job.give_code(" 123456 ")
    waiting.join(timeout=10)

    assert answer == ["123456"]
    assert job.state == "running"
    assert not job.give_code("again")  # nobody is waiting any more


def test_one_dashboard_action_at_a_time_and_busy_is_its_own_outcome() -> None:
    jobs = Jobs()
    release = threading.Event()
    first, started = jobs.start("sync", "Sync", lambda job: release.wait(10))
    second, second_started = jobs.start("share", "Share all", lambda job: None)

    assert started
    assert not second_started
    assert second is first
    release.set()
    while first.running:
        threading.Event().wait(0.01)

    def busy(job: Job) -> None:
        raise CycleBusy("another sync is running")

    third, _ = jobs.start("sync", "Sync", busy)
    while third.running:
        threading.Event().wait(0.01)
    assert third.state == "busy"
    assert third.error == "another sync is running"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    write_config(path, SetupValues("https://seller.example.com", "my-store", data_dir=tmp_path / "data"))
    return path


def test_update_config_changes_keys_in_place_and_keeps_comments(tmp_path: Path) -> None:
    path = _config(tmp_path)
    comments = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]

    settings = update_config(
        path,
        {"policy": {"min_reporters": 3, "reasons": ["fraud"]}, "hub": {"url": "https://hub.example.org"}},
    )

    assert settings.policy.min_reporters == 3
    assert settings.policy.reasons == ["fraud"]
    assert settings.hub.url == "https://hub.example.org"
    text = path.read_text(encoding="utf-8")
    assert all(line in text for line in comments)


def test_update_config_with_a_bad_value_names_the_key_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = _config(tmp_path)
    before = path.read_text(encoding="utf-8")

    with pytest.raises(ConfigError, match=r"policy\.min_reporters"):
        update_config(path, {"policy": {"min_reporters": 0}})

    assert path.read_text(encoding="utf-8") == before
    assert not path.with_name(path.name + ".new").exists()


def test_update_config_removes_a_key_back_to_its_default(tmp_path: Path) -> None:
    path = _config(tmp_path)
    update_config(path, {"policy": {"min_score": 60}})

    settings = update_config(path, {}, remove={"policy": {"min_score": None}})

    assert settings.policy.min_score is None


def _entry(member_id: str, reporters: int, score: int) -> SharedEntry:
    return SharedEntry(member_id, f"Buyer {member_id}", reporters, score, {"fraud": reporters})


def test_the_settings_preview_counts_additions_retractions_and_reviews_without_changing_anything() -> None:
    with LocalState.in_memory() as state:
        state.shared.upsert([_entry("1", 2, 75), _entry("2", 3, 88), _entry("3", 1, 50)], generation=1)
        state.blacklist.add_automatic("2", "Buyer 2", provenance={}, score=88)
        before = state.shared.entries(), state.blacklist.known()

        lenient = policy_preview(state, Policy(min_reporters=1))
        strict = policy_preview(state, Policy(min_reporters=3))

        assert (lenient.would_add, lenient.would_retract) == (2, 0)  # 1 and 3; 2 is already there
        assert (strict.would_add, strict.would_retract) == (0, 0)
        assert policy_preview(state, Policy(min_reporters=4)).would_retract == 1  # 2 no longer passes
        assert (state.shared.entries(), state.blacklist.known()) == before
