"""Reports: idempotent upserts, snapshots (atomic, withdrawing the rest), withdrawal, validation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from hub import reports as reports_module
from hub.maintenance import due_for_review, sweep
from hub.models import Entry, Seller
from hub.reports import Limits, store_reports
from hub.schemas import ReportIn
from hub.scoring import Ageing
from tests.hub.support import HubClient, MakeHub, report


def test_resending_reports_is_idempotent(hub: HubClient) -> None:
    a = hub.add_seller("a")
    assert hub.push(a, report("m1"), report("m2")) == {"created": 2, "updated": 0, "unchanged": 0}
    before = hub.feed(a)
    assert hub.push(a, report("m1"), report("m2")) == {"created": 0, "updated": 0, "unchanged": 2}
    assert hub.feed(a) == before
    assert hub.push(a, report("m1", reason="chargeback")) == {"created": 0, "updated": 1, "unchanged": 0}
    assert hub.entry(a, "m1")["reasons"] == {"chargeback": 1}


def test_names_are_kept_as_spelled_and_compared_normalised(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1", name="Jose\u0301 Garci\u0301a"))  # decomposed, as one marketplace page spells it
    hub.push(b, report("m1", name="JOS\u00c9 GARC\u00cdA"))  # composed, upper case: the same name
    hub.push(b, report("m2", name="Jose\u0301"))
    entry = hub.entry(a, "m1")
    assert (entry["name"], entry["reporters"]) == ("Jose\u0301 Garci\u0301a", 2)
    assert hub.entry(a, "m2")["name"] == "Jose\u0301"


def test_snapshot_withdraws_reports_missing_from_it(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"), report("m3"))
    result = hub.push(a, report("m2"), report("m4"), snapshot=True)
    assert result == {"created": 1, "updated": 0, "unchanged": 1, "withdrawn": 2}
    assert [hub.entry(a, m) is not None for m in ("m1", "m2", "m3", "m4")] == [False, True, False, True]
    me = hub.get("/v1/me", headers=a).json()
    assert (me["reports"], me["live_reports"]) == (2, 2)


def test_empty_snapshot_withdraws_everything(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"))
    assert hub.push(a, snapshot=True)["withdrawn"] == 2
    assert hub.feed(a)["changes"] == []


def test_failure_mid_snapshot_leaves_the_old_set_whole(
    hub: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"))

    def crash(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("disk full")

    # The reports are already rewritten and withdrawn when the entry recompute fails.
    monkeypatch.setattr(reports_module, "refresh_entries", crash)
    limits = Limits(Ageing(hub.context.ageing.ttl, hub.context.ageing.stale_after), 1000, 10000)
    db = hub.context.db
    with db.write() as session:
        seller = session.query(Seller).one()
    with pytest.raises(RuntimeError), db.write() as session:
        store_reports(
            session, seller, [ReportIn(member_id="m9", name="X")], hub.clock(), limits, snapshot=True
        )
    monkeypatch.undo()
    me = hub.get("/v1/me", headers=a).json()
    assert me["reports"] == 2
    assert {c["member_id"] for c in hub.feed(a)["changes"]} == {"m1", "m2"}
    assert hub.push(a, report("m1"), report("m2")) == {"created": 0, "updated": 0, "unchanged": 2}


def test_withdrawing_own_report_tombstones_the_entry(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    cursor = hub.feed(a)["next_cursor"]
    assert hub.delete("/v1/reports/m1", headers=a).json() == {"withdrawn": True}
    assert hub.delete("/v1/reports/m1", headers=a).status_code == 404
    changes = hub.feed(a, cursor)["changes"]
    assert changes == [{"seq": cursor + 1, "member_id": "m1", "deleted": True, "entry": None}]


def test_re_reporting_after_withdrawal_counts_as_new(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    hub.delete("/v1/reports/m1", headers=a)
    assert hub.push(a, report("m1"))["created"] == 1
    assert hub.entry(a, "m1")["reporters"] == 1


def test_validation_names_each_bad_item(hub: HubClient) -> None:
    a = hub.add_seller("a")
    body = {
        "reports": [
            report("ok"),
            report("bad id!"),
            report("m3", name="a\u0007b"),
            report("m4", reason="rude"),
            report("m5", name=""),
            report("m6", note="x" * 501),
            report("m7", name="n" * 129),
        ]
    }
    response = hub.post("/v1/reports", json=body, headers=a)
    assert response.status_code == 422
    bad = sorted((e["loc"][2], e["loc"][3]) for e in response.json()["detail"])
    assert bad == [(1, "member_id"), (2, "name"), (3, "reason"), (4, "name"), (5, "note"), (6, "name")]
    assert hub.get("/v1/me", headers=a).json()["reports"] == 0


def test_the_last_of_duplicate_member_ids_in_one_request_wins(hub: HubClient) -> None:
    a = hub.add_seller("a")
    result = hub.push(a, report("m1", reason="fraud"), report("m2"), report("m1", reason="abusive"))
    assert result == {"created": 2, "updated": 0, "unchanged": 0}
    assert hub.entry(a, "m1")["reasons"] == {"abusive": 1}


ODD_BODIES = [
    b'{"reports": [{"member_id": "m1", "name": "\\ud800"}]}',
    b'{"reports": [{"member_id": "m1", "name": "x", "note": "a\\u0000b"}]}',
    b'{"reports": [{"member_id": "m1", "name": "x", "reported_at": "9999-12-31T23:59:59"}]}',
    b'{"reports": [{"member_id": "m1", "name": "x", "reported_at": 1e300}]}',
    b'{"reports": [{"member_id": "m1", "name": "x", "reported_at": "9999-12-31T23:59:59-23:59"}]}',
    b'{"reports": [{"member_id": "m1", "name": "x", "reported_at": "0001-01-01T00:00:00+01:00"}]}',
    b'{"reports": {"member_id": "m1"}}',
    b"not json",
    b"",
    b'{"reports": []}',
]


def test_odd_bodies_get_a_4xx_never_a_500(hub: HubClient) -> None:
    a = hub.add_seller("a") | {"Content-Type": "application/json"}
    for body in ODD_BODIES:
        response = hub.post("/v1/reports", content=body, headers=a)
        assert response.status_code < 500, (body, response.text)


def test_a_future_reported_at_is_clamped_to_now(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1", reported_at="2099-01-01T00:00:00Z"))
    assert hub.entry(a, "m1")["first_reported_at"] == "2026-11-20T00:00:00Z"


def test_bodies_over_the_limit_get_413(make_hub: MakeHub) -> None:
    hub = make_hub(max_body_bytes=4096)
    a = hub.add_seller("a")
    big = {"reports": [report(f"m{i}", name="n" * 100) for i in range(60)]}
    assert hub.post("/v1/reports", json=big, headers=a).status_code == 413

    def chunks() -> Any:  # no Content-Length: the streamed size is what counts
        for _ in range(10):
            yield b" " * 1000

    assert hub.post("/v1/reports", content=chunks(), headers=a).status_code == 413
    assert hub.get("/v1/me", headers=a).json()["reports"] == 0


def _reporters(hub: HubClient) -> dict[int, int]:
    """How many entries have each count of reporters, straight from the database."""
    with hub.context.db.read() as session:
        rows = session.execute(select(Entry.reporters, func.count()).group_by(Entry.reporters))
        return {int(reporters): int(count) for reporters, count in rows}


def _two_reporters_of_650(
    make_hub: MakeHub, monkeypatch: pytest.MonkeyPatch
) -> tuple[HubClient, dict[str, str], dict[str, str]]:
    """(hub, a, b): a and b both report the same 650 buyers; a withdrawal recomputes 200 entries at once.
    No lazy sweep to help: what a request leaves for later, it (or the expiry sweep) must finish."""
    hub = make_hub(sweep_interval_seconds=3600)
    monkeypatch.setattr(reports_module, "RECOMPUTE_AT_ONCE", 200)
    a, b = hub.add_seller("a"), hub.add_seller("b")
    buyers = [report(f"{n:05d}") for n in range(1, 651)]
    hub.push(a, *buyers, snapshot=True)
    hub.push(b, *buyers, snapshot=True)
    return hub, a, b


def test_a_withdrawal_too_large_for_one_transaction_converges_before_the_answer(
    make_hub: MakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, a, b = _two_reporters_of_650(make_hub, monkeypatch)
    assert _reporters(hub) == {2: 650}
    assert hub.push(a, snapshot=True)["withdrawn"] == 650
    assert _reporters(hub) == {1: 650}  # 200 in the withdrawal's transaction, 450 in batches after it
    assert hub.entry(b, "00650")["reporters"] == 1
    with hub.context.db.read() as session:
        assert not due_for_review(session, hub.clock())


def test_entries_left_for_later_by_a_crash_are_found_by_the_expiry_sweep(
    make_hub: MakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, a, _ = _two_reporters_of_650(make_hub, monkeypatch)

    def crash() -> int:
        raise RuntimeError("the hub process died after the commit")

    monkeypatch.setattr(hub.context, "recompute_due", crash)
    with pytest.raises(RuntimeError):
        hub.push(a, snapshot=True)
    monkeypatch.undo()
    assert _reporters(hub) == {1: 200, 2: 450}  # the reports are withdrawn; 450 entries are not yet redone
    with hub.context.db.write() as session:
        while sweep(session, hub.clock(), hub.context.ageing)[1]:
            pass
    assert _reporters(hub) == {1: 650}
    assert hub.push(a, snapshot=True)["withdrawn"] == 0  # nothing withdrawn twice
