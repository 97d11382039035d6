"""Reconciliation's budget on a real Redis (Telnyx answered by respx): its own bucket, the
fleet pause obeyed, a 429 pausing reconciliation only, and the item put back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
import respx
from pydantic import SecretStr

from confrec.tasks.reconcile import Reconciler
from confrec.tasks.store import keys
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.reconcile_budget import ReconcileBudget
from confrec.tasks.store.schedule import ReconcileSchedule, conference_member
from confrec.tasks.store.throttle import FleetThrottle
from confrec.tasks.telnyx_api import TelnyxApi

BASE = "https://api.telnyx.test/v2"


@pytest.fixture
def reconciler(client: redis.Redis) -> Iterator[Reconciler]:
    client.flushall()
    api = TelnyxApi(BASE, SecretStr("KEYbudget"), timeout=2)
    yield Reconciler(
        api,
        ConferenceStore(client, "confrec:recordings"),
        JobLedger(client, "confrec:results"),
        ReconcileSchedule(client),
        budget=ReconcileBudget(client, rate=50),
        grace_s=0,
        poll_s=1,
        lease_s=10,
    )
    api.close()


def test_its_own_bucket_never_the_starts(client: redis.Redis) -> None:
    client.flushall()
    budget = ReconcileBudget(client, rate=1, burst=2)
    deadline = time.monotonic() + 0.2
    assert budget.acquire(deadline) and budget.acquire(deadline)
    assert not budget.acquire(deadline)  # the next token is a second away
    assert client.exists(keys.RECONCILE_BUCKET) and not client.exists(keys.RATE_BUCKET)
    assert budget.calls_sent() == 2


def test_under_the_fleet_limit_it_takes_only_spare_tokens(client: redis.Redis) -> None:
    """With CONFREC_RATE_LIMIT, a call also takes one of the fleet's tokens, but only while
    its bucket is more than half full: a start never waits for one reconciliation took."""
    client.flushall()
    starts = FleetThrottle(client, rate=1, burst=4)
    budget = ReconcileBudget(client, rate=50, fleet=(1, 4))
    deadline = time.monotonic() + 0.3
    assert budget.acquire(deadline) and budget.acquire(deadline)  # 4 → 3 → 2 tokens
    assert not budget.acquire(deadline)  # 2 left: those are the starts'
    assert starts.state().tokens == pytest.approx(2, abs=0.5)
    assert starts.acquire("job", time.monotonic() + 0.1)  # a start goes at once
    assert starts.acquire("job", time.monotonic() + 0.1)


def test_the_fleet_pause_holds_reconciliation(client: redis.Redis) -> None:
    client.flushall()
    client.set(keys.FLEET_PAUSE, "1", px=5000)
    assert not ReconcileBudget(client, rate=50).acquire(time.monotonic() + 0.5)


def test_a_429_pauses_reconciliation_only_and_puts_the_item_back(
    client: redis.Redis, reconciler: Reconciler
) -> None:
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    ReconcileSchedule(client).add(member, time.time() - 1)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences/{conference_id}").mock(
            return_value=httpx.Response(
                429, headers={"Retry-After": "30"}, json={"errors": [{"code": "10011"}]}
            )
        )
        assert reconciler.run_due() == 1
    assert 29_000 < int(client.pttl(keys.RECONCILE_PAUSE)) <= 30_000
    assert not client.exists(keys.FLEET_PAUSE)
    due = client.zscore(keys.RECONCILE_DUE, member)
    assert due is not None and due >= time.time() + 29


def test_an_ended_conference_is_listed_and_marked_final(
    client: redis.Redis, reconciler: Reconciler
) -> None:
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    ReconcileSchedule(client).add(member, time.time() - 1)
    item = {"id": "rec-1", "conference_id": conference_id, "download_urls": {"wav": "https://x/y"}}
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences/{conference_id}").mock(
            return_value=httpx.Response(200, json={"data": {"status": "completed"}})
        )
        listing = mock.get(f"{BASE}/recordings").mock(
            return_value=httpx.Response(200, json={"data": [item], "meta": {"total_pages": 1}})
        )
        assert reconciler.run_due() == 1  # ended now; grace 0: due at once
        assert reconciler.run_due() == 1
        assert listing.call_count == 1
    store = ConferenceStore(client, "confrec:recordings")
    facts = store.facts(conference_id)
    assert facts.final_at is not None and [r.recording_id for r in facts.recordings] == ["rec-1"]
    assert client.zscore(keys.RECONCILE_DUE, member) is None
