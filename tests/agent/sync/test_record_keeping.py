"""The private record on the hub (docs/safety.md rule 10): queued as the agent acts, sent, restored first.

The hub side is played by a small real HTTP server that keeps a record the way the contract says; the
end-to-end reinstall story against the real hub is tests/e2e/test_reinstall.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_hub import HostileHub, Seen, as_json

from agent.errors import HubUnavailable
from agent.hub_client import HubClient
from agent.models import BlacklistEntry
from agent.state import LocalState
from agent.sync.reconcile import reconcile
from agent.sync.record import deliver_record, restore_record

RECORD = "/v1/me/record"


class RecordHub(HostileHub):
    """A hub that keeps one seller's record as the contract says."""

    def __init__(self, auto: dict[str, str] | None = None, allow: set[str] | None = None) -> None:
        super().__init__()
        self.auto = dict(auto or {})
        self.allow = set(allow or ())
        self.routes[("GET", RECORD)] = lambda _: as_json(
            200,
            {
                "auto": [{"member_id": m, "name": n} for m, n in self.auto.items()],
                "allow": [{"member_id": m} for m in self.allow],
            },
        )
        self.routes[("POST", RECORD)] = self._post

    def _post(self, _: str) -> tuple[int, str, bytes]:
        body = json.loads(self.seen[-1].body)
        for change in body["changes"]:
            member_id = change["member_id"]
            if change["list"] == "auto":
                if change["op"] == "add":
                    self.auto[member_id] = change["name"]
                else:
                    self.auto.pop(member_id, None)
            elif change["op"] == "add":
                self.allow.add(member_id)
            else:
                self.allow.discard(member_id)
        return as_json(200, {"applied": len(body["changes"])})


@pytest.fixture
def record_hub() -> Iterator[RecordHub]:
    with RecordHub(auto={"x1": "Auto Added"}, allow={"undone1"}) as server:
        yield server


def client(hub: HostileHub) -> HubClient:
    return HubClient(hub.url, "tok-0123456789", max_retries=0, sleep=lambda _: None)


def queued(state: LocalState) -> set[tuple[str, str, str]]:
    return {(i.change.list, i.change.op, i.change.member_id) for i in state.record.items()}


def posts(hub: HostileHub) -> list[Any]:
    return [json.loads(s.body) for s in hub.seen if s == Seen("POST", RECORD, s.body)]


def test_what_the_agent_adds_and_the_seller_allowlists_is_queued_for_the_hub() -> None:
    state = LocalState.in_memory()
    with state.transaction():
        state.blacklist.add_automatic("a1", "Auto", provenance={}, score=5)
        state.blacklist.add_manual(BlacklistEntry("m1", "Mine"))
        state.blacklist.forget("m1")  # the seller's own: not the record's business
        state.allowlist.add("w1", "Forgiven", "test")
    assert queued(state) == {("auto", "add", "a1"), ("allow", "add", "w1")}
    with state.transaction():
        state.blacklist.forget("a1")
        state.allowlist.remove("w1")
    assert queued(state) == {("auto", "remove", "a1"), ("allow", "remove", "w1")}  # the latest wish wins


def test_queued_changes_are_sent_and_stay_queued_while_the_hub_is_down(record_hub: RecordHub) -> None:
    state = LocalState.in_memory()
    with state.transaction():
        state.record.mark_restored()
        state.blacklist.add_automatic("a1", "Auto", provenance={}, score=5)
    down = HubClient("http://127.0.0.1:9", "tok-0123456789", max_retries=0)
    with down, pytest.raises(HubUnavailable, match="did not answer"):
        deliver_record(down, state)
    assert queued(state) == {("auto", "add", "a1")}
    assert deliver_record(client(record_hub), state).sent == 1
    assert record_hub.auto == {"x1": "Auto Added", "a1": "Auto"}
    assert state.record.items() == []


def test_a_new_data_dir_takes_in_the_record_before_the_store_is_read(record_hub: RecordHub) -> None:
    state = LocalState.in_memory()
    result = restore_record(client(record_hub), state)
    reconcile(state, [BlacklistEntry("x1", "Auto Added"), BlacklistEntry("m1", "Mine")])

    assert (result.automatic, result.allowlisted) == (1, 1)
    assert state.blacklist.known()["x1"].origin == "agent"
    assert [i.member_id for i in state.outbox.items()] == ["m1"]  # X is not pushed as the seller's report
    assert "undone1" in state.allowlist.ids()
    assert state.record.items() == []  # what came from the hub is not sent back
    assert state.record.restored


def test_a_restore_after_a_cycle_took_the_agents_entry_for_the_sellers_takes_it_back(
    record_hub: RecordHub,
) -> None:
    state = LocalState.in_memory()
    reconcile(state, [BlacklistEntry("x1", "Auto Added")])  # the hub was down at first: X looks manual
    assert [i.member_id for i in state.outbox.items()] == ["x1"]

    restore_record(client(record_hub), state)

    assert state.blacklist.known()["x1"].origin == "agent"
    assert state.outbox.items() == []


def test_an_agent_older_than_the_record_sends_up_what_only_it_knows(record_hub: RecordHub) -> None:
    state = LocalState.in_memory()
    with state.transaction():
        state.blacklist.add_automatic("a2", "Older", provenance={}, score=5, to_hub=False)
        state.allowlist.add("w2", None, "test", to_hub=False)
    restore_record(client(record_hub), state)
    deliver_record(client(record_hub), state)
    assert record_hub.auto == {"x1": "Auto Added", "a2": "Older"}
    assert record_hub.allow == {"undone1", "w2"}


def test_an_older_hub_without_a_record_is_asked_again_later_and_nothing_is_lost() -> None:
    with HostileHub() as old_hub:  # answers 404 to everything
        state = LocalState.in_memory()
        with state.transaction():
            state.allowlist.add("w1", None, "test")
        result = restore_record(client(old_hub), state)
        assert result.hub_has_no_record
        assert not state.record.restored
        assert deliver_record(client(old_hub), state).sent == 0
        assert queued(state) == {("allow", "add", "w1")}
        assert [s.method for s in old_hub.seen] == ["GET"]
