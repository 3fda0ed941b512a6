"""One seller can neither poison nor veto, and none is exposed: names, standing, publication, lookup.

Each test stands for an observation of issue 8 that held before these rules (see docs/hub-api.md).
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import pytest

from hub.schemas import _clean_name, is_noncharacter
from tests.hub.support import HubClient, MakeHub, report


def lookup(hub: HubClient, headers: dict[str, str], *member_ids: str) -> list[dict[str, Any]]:
    response = hub.get("/v1/lookup", params=[("member_id", m) for m in member_ids], headers=headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("Tom\u200b Smith", "format character"),  # zero-width space
        ("Tom \u202ehtimS", "format character"),  # right-to-left override
        ("Tom\u2066 Smith\u2069", "format character"),  # bidi isolates
        ("Tom \ue000Smith", "private-use"),
        ("Tom \u0378Smith", "unassigned"),
        ("Tom \ufdd0Smith", "noncharacter"),
        ("Tom Smith\U000f0000", "private-use"),
        ("Tom Smith\U0010ffff", "noncharacter"),
        ("   \u3000 ", "only whitespace"),
    ],
)
def test_deceptive_names_are_refused_naming_the_item(hub: HubClient, name: str, what: str) -> None:
    a = hub.add_seller("a")
    body = {"reports": [report("m1", name="Tom Smith"), report("m2", name=name)]}
    response = hub.post("/v1/reports", json=body, headers=a)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "reports", 1, "name"]
    assert what in error["msg"]
    assert hub.entry(a, "m1") is None  # the batch is refused whole


def test_every_code_point_is_judged_by_its_category() -> None:
    """The name check takes a shortcut for printable names; over all of Unicode it refuses exactly the
    control, format, private-use, unassigned and surrogate code points and the noncharacters."""
    refused_categories = {"Cc", "Cf", "Co", "Cn", "Cs"}
    wrong: list[str] = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        refused = unicodedata.category(char) in refused_categories or is_noncharacter(char)
        try:
            _clean_name(f"a{char}b")
        except ValueError:
            wrong += [] if refused else [f"U+{code:04X} refused"]
        else:
            wrong += [f"U+{code:04X} accepted"] if refused else []
    assert wrong == []


def test_a_lone_seller_cannot_veto_a_name_by_resending_its_own(make_hub: MakeHub) -> None:
    hub = make_hub(publish_min_reporters=2)
    a, b, c, d = (hub.add_seller(n) for n in "abcd")
    hub.push(a, report("x", name="Tom Smith"))
    hub.push(b, report("x", name="Tom Smith"))
    hub.push(c, report("x", name="Tom Smlth"))
    cursor = hub.feed(d)["next_cursor"]
    assert hub.entry(d, "x")["name"] == "Tom Smith"
    for _ in range(3):  # honest confirmations and the probe re-sent after each: nothing visible moves
        hub.push(a, report("x", name="Tom Smith"))
        hub.push(c, report("x", name="Tom Smlth"))
        hub.clock.advance(hours=2)
    assert hub.feed(d, cursor)["changes"] == []
    assert hub.entry(d, "x")["name"] == "Tom Smith"


def test_standing_zero_counts_for_nothing_and_fractions_weigh_fractionally(make_hub: MakeHub) -> None:
    hub = make_hub(publish_min_reporters=2)
    honest, zero, half = hub.add_seller("honest"), hub.add_seller("zero"), hub.add_seller("half")
    with hub.admin() as admin:
        admin.set_standing("zero", 0.0)
        admin.set_standing("half", 0.5)
    hub.push(honest, report("m1"), report("m2"))
    hub.push(zero, report("m1"))
    hub.push(half, report("m2"))
    # An honest seller plus a standing-0 one: one reporter, so not in the feed, and scored as one.
    assert hub.entry(honest, "m1") is None
    assert [(e["reporters"], e["weight"], e["score"]) for e in lookup(hub, honest, "m1")] == [(1, 1.0, 50)]
    assert [c["member_id"] for c in hub.feed(honest)["changes"]] == ["m2"]
    assert (hub.entry(honest, "m2")["reporters"], hub.entry(honest, "m2")["weight"]) == (2, 1.5)


def test_times_are_days_so_one_sellers_reports_cannot_be_tied_together(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.clock.advance(hours=3, minutes=17, seconds=5, microseconds=123)
    hub.push(a, report("m1"), report("m2", reported_at="2026-11-02T08:09:10.5Z"))
    hub.push(b, report("m2"))
    entries = {c["member_id"]: c["entry"] for c in hub.feed(b)["changes"]}
    assert entries["m1"]["first_reported_at"] == entries["m1"]["last_reported_at"] == "2026-11-20T00:00:00Z"
    assert (entries["m2"]["first_reported_at"], entries["m2"]["last_reported_at"]) == (
        "2026-11-02T00:00:00Z",
        "2026-11-20T00:00:00Z",
    )


def test_an_entry_reaches_the_feed_with_its_second_reporter_only(make_hub: MakeHub) -> None:
    hub = make_hub(publish_min_reporters=2)
    a, b, c = hub.add_seller("a"), hub.add_seller("b"), hub.add_seller("c")
    hub.push(a, report("m1"))
    assert hub.feed(c)["changes"] == []
    assert hub.entry(c, "m1") is None
    cursor = hub.feed(c)["next_cursor"]
    hub.push(b, report("m1"))
    changes = hub.feed(c, cursor)["changes"]
    assert [(x["member_id"], x["deleted"], x["entry"]["reporters"]) for x in changes] == [("m1", False, 2)]
    cursor = hub.feed(c, cursor)["next_cursor"]
    assert hub.delete("/v1/reports/m1", headers=b).status_code == 200
    assert [(x["member_id"], x["deleted"]) for x in hub.feed(c, cursor)["changes"]] == [("m1", True)]


def test_publication_mixes_sellers_so_one_request_is_not_a_run_of_seqs(make_hub: MakeHub) -> None:
    hub = make_hub(publish_interval_seconds=3600, publish_min_reporters=1)
    a, b, c = hub.add_seller("a"), hub.add_seller("b"), hub.add_seller("c")
    hub.push(a, *[report(f"a{i:02}") for i in range(20)])
    hub.push(b, *[report(f"b{i:02}") for i in range(20)])
    assert hub.feed(c)["changes"] == []  # pending until the next publication
    assert hub.context.publish_pending() == 40
    order = [x["member_id"] for x in hub.feed(c)["changes"]]
    assert sorted(order) == sorted([f"a{i:02}" for i in range(20)] + [f"b{i:02}" for i in range(20)])
    a_positions = [i for i, m in enumerate(order) if m.startswith("a")]
    assert a_positions != list(range(a_positions[0], a_positions[0] + 20)), "a's request is one run"
    assert order[:20] != sorted(order[:20])


def test_lookup_answers_below_the_threshold_and_says_whose_report_it_is(make_hub: MakeHub) -> None:
    hub = make_hub(publish_min_reporters=2)
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"), report("m2"))
    hub.push(b, report("m2"))
    assert lookup(hub, b, "m3") == []
    found = {e["member_id"]: e for e in lookup(hub, b, "m1", "m2", "m3")}
    assert sorted(found) == ["m1", "m2"]
    assert (found["m1"]["reporters"], found["m1"]["own_report"]) == (1, False)
    assert (found["m2"]["reporters"], found["m2"]["own_report"]) == (2, True)
    assert found["m1"]["first_reported_at"] == "2026-11-20T00:00:00Z"
    assert "a" not in {k for e in found.values() for k in e if k in ("seller", "store_id")}


def test_lookup_is_bounded_per_request_and_rate_limited_per_seller(make_hub: MakeHub) -> None:
    hub = make_hub(lookup_per_minute=1, lookup_burst=60)
    a, b = hub.add_seller("a"), hub.add_seller("b")
    too_many = [("member_id", f"m{i}") for i in range(51)]
    assert hub.get("/v1/lookup", params=too_many, headers=a).status_code == 422
    assert hub.get("/v1/lookup", headers=a).status_code == 422
    assert len(lookup(hub, a, *[f"m{i}" for i in range(50)])) == 0
    refused = hub.get("/v1/lookup", params=too_many[:20], headers=a)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert lookup(hub, b, "m1") == []  # another seller's budget is its own
