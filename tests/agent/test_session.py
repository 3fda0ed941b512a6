"""The agent session: one object behind every front, opening only what an action needs, one change at a
time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as NoKeyring

from agent.backend.api import Backend
from agent.config import Settings
from agent.errors import ConfigError, CycleBusy
from agent.session import AgentSession


def no_store() -> AbstractContextManager[Backend]:
    raise AssertionError("this action must not open the store's backend")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "agent", backend={"base_url": "http://127.0.0.1:9", "username": "me"})


@pytest.fixture
def without_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    yield
    keyring.set_keyring(previous)


@pytest.mark.usefixtures("without_keyring")
def test_status_and_audit_need_neither_the_keyring_nor_the_store(settings: Settings) -> None:
    with AgentSession(settings, backend_factory=no_store) as agent:
        assert agent.status()["last_cycle"] is None
        assert agent.audit()["automatic_entries"] == []


def test_a_second_change_while_one_runs_is_refused_before_touching_the_store(settings: Settings) -> None:
    with (
        AgentSession(settings) as running,
        running.exclusive(),
        AgentSession(settings, backend_factory=no_store) as second,
        pytest.raises(CycleBusy),
    ):
        second.sync()


def test_the_lock_is_released_when_an_action_fails(settings: Settings) -> None:
    def broken_store() -> AbstractContextManager[Backend]:
        raise RuntimeError("the store is down")

    with AgentSession(settings, backend_factory=broken_store) as agent:
        with pytest.raises(RuntimeError):
            agent.sync()
        with agent.exclusive():  # free again
            pass


def test_undo_dry_run_lists_without_opening_the_store(settings: Settings) -> None:
    with AgentSession(settings, backend_factory=no_store) as agent:
        with agent.state.transaction():
            agent.state.blacklist.add_automatic("123", "Tom", provenance={"reporters": 2}, score=75)
        would = agent.undo(everything=True, dry_run=True)
        assert [a.member_id for a in would] == ["123"]
        assert "123" in agent.state.blacklist.automatic()  # nothing changed


def test_share_all_without_a_hub_is_a_configuration_error(settings: Settings) -> None:
    with AgentSession(settings, backend_factory=no_store) as agent, pytest.raises(ConfigError) as refused:
        agent.share_all()
    assert refused.value.key == "hub.url"


def test_a_buyer_can_be_taken_off_the_allowlist(settings: Settings) -> None:
    with AgentSession(settings, backend_factory=no_store) as agent:
        assert agent.allow("123")
        assert agent.disallow("123")
        assert not agent.disallow("123")
        assert "123" not in agent.state.allowlist
