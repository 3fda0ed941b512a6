"""Measure trust: a community of stores sharing through the real hub, decided by the agent's real policy.

    python -m bench.community [--stores 50] [--buyers 10000] [--poisoners 1] [--seed 7] [--quick]

The hub is the real app served by uvicorn on loopback over a throwaway SQLite file; each store is a seller
token that pushes its blacklist as a snapshot (`PUT /v1/reports`), pulls the feed into an agent's local state
(`agent.sync.feed.pull_feed`) and decides with the agent's policy (`agent.sync.policy.decide` and
`retractions`, default settings). No browser: a store "blocks" a buyer when it reported them itself or the
policy adds them.

The community: `--buyers` buyers, 2% of them fraudsters who each hit 1-6 stores (a hit store notices and
reports 90% of the time); every honest store also reports one good buyer by mistake; each poisoning seller
reports 300 good buyers and tries to veto 50 fraudsters by re-naming them (a zero-width space, then a wrong
name); every store runs a cycle and the figures are taken. Then each poisoner churns (withdraws everything
and re-files it, 10 rounds), the operator disables the poisoners and every store runs one more cycle.

Printed: good buyers blocked anywhere (false positives, and those a poisoner was needed for); the share of
fraudsters seen by 2+ stores blocked in every store after one cycle; the poisoners' influence (entries the
feed carries because of them, names they set, writes their churn got through); what is left of it one cycle
after they are disabled. bench/README.md ("Community trust") records the figures.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import HubError
from agent.hub_client import HubClient
from agent.hub_models import Report, SharedEntry
from agent.state import LocalState
from agent.sync.feed import pull_feed
from agent.sync.policy import Policy, decide, qualifying_reporters, retractions
from fixtures.serving import ThreadedServer

FRAUD_SHARE = 0.02
POISON_REPORTS = 300
POISON_VETOES = 50
CHURN_ROUNDS = 10
ZWSP = "\u200b"


@dataclass
class Store:
    name: str
    token: str
    reports: dict[str, str] = field(default_factory=dict)  # member id -> name
    state: LocalState = field(default_factory=LocalState.in_memory)
    automatic: dict[str, str] = field(default_factory=dict)  # what its agent added

    def blocks(self) -> set[str]:
        return set(self.reports) | set(self.automatic)


@dataclass
class Community:
    buyers: dict[str, str]
    fraudsters: set[str]
    hits: dict[str, list[int]]  # fraudster -> stores they hit
    stores: list[Store]
    poisoners: list[Store]


def build(
    rng: random.Random, n_stores: int, n_buyers: int, n_poisoners: int, add_seller: Callable[[str], str]
) -> Community:
    buyers = {f"b{n:06d}": f"Buyer {n} Example" for n in range(n_buyers)}
    ids = sorted(buyers)
    fraudsters = set(rng.sample(ids, int(n_buyers * FRAUD_SHARE)))
    good = [m for m in ids if m not in fraudsters]
    stores = [Store(f"store-{i}", add_seller(f"store-{i}")) for i in range(n_stores)]
    hits: dict[str, list[int]] = {}
    for m in sorted(fraudsters):
        hits[m] = rng.sample(range(n_stores), rng.randint(1, 6))
        for i in hits[m]:
            if rng.random() < 0.9:
                stores[i].reports[m] = buyers[m]
    for store in stores:  # an honest mistake each
        mistake = rng.choice(good)
        store.reports[mistake] = buyers[mistake]
    poisoners = [Store(f"poisoner-{i}", add_seller(f"poisoner-{i}")) for i in range(n_poisoners)]
    for p in poisoners:
        for m in rng.sample(good, POISON_REPORTS):
            p.reports[m] = buyers[m]
    return Community(buyers, fraudsters, hits, stores, poisoners)


def cycle(hub_url: str, store: Store, policy: Policy) -> None:
    """One agent cycle without a browser: pull the feed, retract, decide, "apply"."""
    with HubClient(hub_url, store.token, max_retries=2, backoff=0.05) as hub:
        pull_feed(hub, store.state)
    shared = store.state.shared.entries()
    for r in retractions(store.automatic, shared, policy):
        store.automatic.pop(r.member_id, None)
    decision = decide(
        shared.values(),
        policy=policy,
        blacklisted=store.blocks(),
        allowlisted=set(),
        completed_orders={},
    )
    store.automatic.update({e.member_id: e.name for e in decision.to_add})


def push_all(hub_url: str, stores: list[Store]) -> None:
    for store in stores:
        with HubClient(hub_url, store.token, max_retries=2, backoff=0.05) as hub:
            hub.put_snapshot([Report(m, n, "fraud") for m, n in sorted(store.reports.items())])


@dataclass
class Poisoning:
    vetoes_refused: int = 0
    vetoes_accepted: int = 0
    churn_writes_accepted: int = 0
    churn_writes_refused: int = 0


def veto(hub_url: str, community: Community, rng: random.Random, result: Poisoning) -> None:
    """Each poisoner re-spells fraudsters' names, as far as the hub lets it."""
    targets = sorted(m for m, stores in community.hits.items() if len(stores) >= 2)
    for p in community.poisoners:
        with HubClient(hub_url, p.token, max_retries=0, max_wait=0) as hub:
            for m in rng.sample(targets, min(POISON_VETOES, len(targets))):
                for spelling in (community.buyers[m].replace(" ", ZWSP + " ", 1), "Someone Else Entirely"):
                    try:
                        hub.push_reports([Report(m, spelling, "fraud")])
                        result.vetoes_accepted += 1
                        p.reports[m] = spelling
                        break
                    except HubError:
                        result.vetoes_refused += 1


def churn(hub_url: str, community: Community, result: Poisoning) -> None:
    """Each poisoner withdraws everything and re-files it, CHURN_ROUNDS times, as far as the hub lets it."""
    for p in community.poisoners:
        with HubClient(hub_url, p.token, max_retries=0, max_wait=0) as hub:
            mine = [Report(m, n, "fraud") for m, n in sorted(p.reports.items())]
            for _ in range(CHURN_ROUNDS):
                for body in ([], mine):
                    try:
                        hub.put_snapshot(body)
                        result.churn_writes_accepted += 1
                    except HubError:
                        result.churn_writes_refused += 1


def fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


@dataclass
class Figures:
    false_positives: int = 0  # good buyers some store's agent blocked
    poisoner_needed: int = 0  # ... of which a poisoner's report was needed for
    poisoners_alone: int = 0  # ... of which no honest store reported at all
    fraud_2plus: int = 0
    fraud_2plus_everywhere: int = 0
    poisoned_entries_passing: int = 0  # good buyers a poisoner reports that pass the default policy
    names_set_by_poisoner: int = 0  # fraudsters whose hub name is a poisoner's spelling
    after_disable_blocked: int = 0  # good buyers still blocked anywhere because of a poisoner


def measure(community: Community, policy: Policy) -> Figures:
    figures = Figures()
    honest_reports: dict[str, int] = {}
    for s in community.stores:
        for m in s.reports:
            honest_reports[m] = honest_reports.get(m, 0) + 1
    poisoned = {m for p in community.poisoners for m in p.reports}
    blocked_good: set[str] = set()
    for s in community.stores:
        blocked_good |= {m for m in s.automatic if m not in community.fraudsters}
    figures.false_positives = len(blocked_good)
    needed = [m for m in blocked_good if m in poisoned and honest_reports.get(m, 0) < policy.min_reporters]
    figures.poisoner_needed = len(needed)
    figures.poisoners_alone = sum(1 for m in needed if honest_reports.get(m, 0) == 0)
    for m, _stores in community.hits.items():
        if honest_reports.get(m, 0) >= 2:
            figures.fraud_2plus += 1
            if all(m in s.blocks() for s in community.stores):
                figures.fraud_2plus_everywhere += 1
    shared = community.stores[0].state.shared.entries()
    figures.poisoned_entries_passing = sum(
        1
        for m in poisoned
        if m not in community.fraudsters and _passes(shared.get(m), policy) and honest_reports.get(m, 0) < 2
    )
    figures.names_set_by_poisoner = sum(
        1 for m in community.fraudsters if m in shared and fold(shared[m].name) != fold(community.buyers[m])
    )
    return figures


def _passes(entry: SharedEntry | None, policy: Policy) -> bool:
    return entry is not None and qualifying_reporters(entry, policy) >= policy.min_reporters


@contextmanager
def hub_server(database_url: str) -> Iterator[str]:
    from hub.app import create_app
    from hub.settings import HubSettings

    wanted = {
        "database_url": database_url,
        "rate_limit_per_minute": 6000.0,
        "rate_limit_burst": 1000,
        "sweep_interval_seconds": 0,
        "publish_interval_seconds": 0,  # hubs that batch publication: publish at once (contract)
    }
    fields = HubSettings.model_fields
    settings = HubSettings(**{k: v for k, v in wanted.items() if k in fields})  # type: ignore[arg-type]
    server = ThreadedServer(create_app(settings), "community-hub").start()
    try:
        yield server.url
    finally:
        server.stop()


def run(n_stores: int, n_buyers: int, n_poisoners: int, seed: int) -> dict[str, object]:
    from hub.admin import HubAdmin
    from hub.db import migrate
    from hub.settings import HubSettings

    rng = random.Random(seed)
    policy = Policy()
    with tempfile.TemporaryDirectory(prefix="community-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.sqlite3'}"
        migrate(url)
        with HubAdmin(HubSettings(database_url=url)) as admin, hub_server(url) as hub_url:

            def add_seller(name: str) -> str:
                return admin.add_seller(name, name)[1]

            community = build(rng, n_stores, n_buyers, n_poisoners, add_seller)
            started = time.monotonic()
            push_all(hub_url, community.stores + community.poisoners)
            poisoning = Poisoning()
            veto(hub_url, community, rng, poisoning)
            for store in community.stores:
                cycle(hub_url, store, policy)
            before = measure(community, policy)
            churn(hub_url, community, poisoning)  # measured on its own: it may leave a poisoner with nothing
            for p in community.poisoners:
                admin.set_enabled(p.name, False)
            for store in community.stores:
                cycle(hub_url, store, policy)
            after = measure(community, policy)
            seconds = time.monotonic() - started
    return {
        "stores": n_stores,
        "buyers": n_buyers,
        "fraudsters": len(community.fraudsters),
        "poisoners": n_poisoners,
        "before": before,
        "after_disable": after,
        "poisoning": poisoning,
        "seconds": seconds,
    }


def report(result: dict[str, object]) -> str:
    before, after = result["before"], result["after_disable"]
    poisoning = result["poisoning"]
    assert isinstance(before, Figures)
    assert isinstance(after, Figures)
    assert isinstance(poisoning, Poisoning)
    share = before.fraud_2plus_everywhere / before.fraud_2plus if before.fraud_2plus else float("nan")
    lines = [
        f"community: {result['stores']} stores, {result['buyers']} buyers, "
        f"{result['fraudsters']} fraudsters, {result['poisoners']} poisoner(s); default policy; "
        f"{result['seconds']:.1f} s",
        f"good buyers blocked anywhere (false positives):        {before.false_positives}",
        f"  ... that needed a poisoner's report:                  {before.poisoner_needed}",
        f"  ... of which no honest store reported (poisoners alone): {before.poisoners_alone}",
        f"fraudsters seen by 2+ stores blocked everywhere, 1 cycle: {before.fraud_2plus_everywhere}"
        f"/{before.fraud_2plus} = {share:.1%}",
        f"poisoned good buyers passing the policy on the hub:      {before.poisoned_entries_passing}",
        f"fraudsters whose shared name a poisoner set (veto):       {before.names_set_by_poisoner}",
        f"veto reports accepted / refused by the hub:               {poisoning.vetoes_accepted}"
        f" / {poisoning.vetoes_refused}",
        f"churn snapshot writes accepted / refused:                 {poisoning.churn_writes_accepted}"
        f" / {poisoning.churn_writes_refused}",
        f"one cycle after disabling the poisoner(s): good buyers blocked {after.false_positives}, "
        f"needing a poisoner {after.poisoner_needed}, names still theirs {after.names_set_by_poisoner}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--poisoners", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20 stores, 3,000 buyers")
    args = parser.parse_args(argv)
    logging.getLogger("agent").setLevel(logging.ERROR)  # refused writes are counted, not logged
    stores, buyers = (20, 3000) if args.quick else (args.stores, args.buyers)
    print(report(run(stores, buyers, args.poisoners, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
