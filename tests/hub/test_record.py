"""The private record (`GET/POST /v1/me/record`): kept per seller, seen by no one else, and a report
about a buyer the seller's own agent added automatically does not count (no amplification)."""

from __future__ import annotations

from typing import Any

from tests.hub.support import HubClient, MakeHub, report


def change(list_: str, op: str, member_id: str, name: str | None = None) -> dict[str, Any]:
    item = {"list": list_, "op": op, "member_id": member_id}
    return item | ({"name": name} if name is not None else {})


def record(hub: HubClient, headers: dict[str, str], *changes: dict[str, Any]) -> Any:
    if changes:
        response = hub.post("/v1/me/record", json={"changes": list(changes)}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"applied": len(changes)}
    response = hub.get("/v1/me/record", headers=headers)
    assert response.status_code == 200
    return response.json()


def test_the_record_is_kept_per_seller_and_idempotent(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    assert record(hub, a) == {"auto": [], "allow": []}
    changes = [
        change("auto", "add", "m1", "Tom Smith"),
        change("allow", "add", "m2"),
        change("auto", "add", "m3"),
    ]
    expected = {"auto": [{"member_id": "m1", "name": "Tom Smith"}, {"member_id": "m3", "name": None}],
                "allow": [{"member_id": "m2"}]}  # fmt: skip
    assert record(hub, a, *changes) == expected
    assert record(hub, a, *changes) == expected  # sent again (a retried request): nothing more
    assert record(hub, a, change("auto", "remove", "m3"), change("auto", "remove", "m9")) == {
        "auto": [{"member_id": "m1", "name": "Tom Smith"}],
        "allow": [{"member_id": "m2"}],
    }
    assert record(hub, b) == {"auto": [], "allow": []}  # never another seller's


def test_the_record_refuses_bad_changes_naming_the_item(make_hub: MakeHub) -> None:
    hub = make_hub(record_max_items=2)
    a = hub.add_seller("a")
    bad = {"changes": [change("auto", "add", "m1"), change("auto", "add", "bad id")]}
    response = hub.post("/v1/me/record", json=bad, headers=a)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "changes", 1, "member_id"]
    assert hub.post("/v1/me/record", json={"changes": []}, headers=a).status_code == 422
    full = {"changes": [change("allow", "add", f"m{i}") for i in range(3)]}
    refused = hub.post("/v1/me/record", json=full, headers=a)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "changes"]
    assert "over the limit of 2" in refused.json()["detail"][0]["msg"]
    assert record(hub, a) == {"auto": [], "allow": []}  # refused whole
    assert hub.get("/v1/me/record").status_code == 401


def test_a_report_about_a_buyer_the_agent_added_automatically_does_not_count(make_hub: MakeHub) -> None:
    hub = make_hub(publish_min_reporters=2)
    a, b, c = hub.add_seller("a"), hub.add_seller("b"), hub.add_seller("c")
    hub.push(a, report("x"))
    hub.push(b, report("x"))
    # C's agent blacklisted x from the feed and recorded it; a reinstalled agent then pushes x as C's own.
    record(hub, c, change("auto", "add", "x", "Jane Roe"))
    hub.push(c, report("x"))
    assert hub.entry(c, "x")["reporters"] == 2
    # A withdraws: x drops below the threshold everywhere, C's echo does not keep it alive.
    cursor = hub.feed(c)["next_cursor"]
    hub.delete("/v1/reports/x", headers=a)
    assert [(ch["member_id"], ch["deleted"]) for ch in hub.feed(c, cursor)["changes"]] == [("x", True)]
    assert [(e["reporters"], e["own_report"]) for e in hub.get(
        "/v1/lookup", params={"member_id": "x"}, headers=c).json()["entries"]] == [(1, False)]  # fmt: skip
    # The seller removes x by hand and blacklists it again by hand: now the report is C's own, and counts.
    record(hub, c, change("auto", "remove", "x"))
    assert hub.entry(c, "x")["reporters"] == 2
