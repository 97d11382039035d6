"""Nothing confrec writes grows without a bound: after a small workload on a Redis of its
own, every key has a TTL or is one of the capped ones docs/security.md lists (§ "What
grows, and its bound"); the list of undecodable messages keeps its newest and expires."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from confrec.tasks.store import keys
from confrec.tasks.store.consumers import set_aside
from tests.support.system import System, own_fleet, unique

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"

#: Keys with no TTL, each bounded otherwise (a pattern of its name → how, as documented).
CAPPED = {
    r"confrec:results": "MAXLEN and retention",
    r"confrec:recordings": "MAXLEN",
    r"record_start": "the queue: drained by the workers",
    r"confrec:consumers": "one field per live consumer, swept",
    r"confrec:inflight:.+": "prefetch per consumer, swept",
    r"confrec:recovered": "one counter",
    r"confrec:reconcile:due": "one member per conference or name, removed when settled",
    r"confrec:reconcile:calls": "three fields: reconciliation's call counter",
    r"unacked|unacked_index": "kombu: messages delivered and not acked",
    r"_kombu\.binding.+": "kombu: one set per exchange, a member per queue",
}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[System]:
    with own_fleet(tmp_path) as system:
        yield system


def test_every_key_has_a_ttl_or_a_documented_cap(fleet: System) -> None:
    fleet.start_worker("bounds", concurrency=2)
    jobs = fleet.enqueue([unique(), unique("missing-"), unique("flaky-1-")])
    jobs.append(fleet.app.send_task("confrec.record_start", kwargs={"conference_id": "x"}).id)
    assert len(fleet.outcomes(jobs)) == 4
    set_aside(fleet.client, keys.inflight("nobody"), b"not json", "envelope")

    unbounded = []
    for key in fleet.client.scan_iter(count=1000):
        name = str(key)
        if fleet.client.ttl(name) == -1 and not any(re.fullmatch(p, name) for p in CAPPED):
            unbounded.append(name)
    assert unbounded == [], unbounded
    documented = DOC.read_text()
    for pattern in ("confrec:results", "confrec:recordings", "confrec:undeliverable"):
        assert f"`{pattern}" in documented


def test_the_undeliverable_list_keeps_its_newest_and_expires(client: redis.Redis) -> None:
    for n in range(keys.UNDELIVERABLE_CAP + 5):
        set_aside(client, keys.inflight("c"), f"garbage {n}".encode(), "envelope")
    assert client.llen(keys.UNDELIVERABLE) == keys.UNDELIVERABLE_CAP
    assert client.lindex(keys.UNDELIVERABLE, 0) == f"garbage {keys.UNDELIVERABLE_CAP + 4}"
    assert 0 < int(client.ttl(keys.UNDELIVERABLE)) <= keys.UNDELIVERABLE_TTL_S
