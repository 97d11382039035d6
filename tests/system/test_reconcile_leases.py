"""The reconciliation schedule's leases on a real Redis (Telnyx answered by respx): one
reconciler per conference at a time, and no work lost to a lease — a conference's end
or a new job arriving while it is leased, a release after — nor kept forever (a
permanent error once its jobs are gone); a list longer than the page bound is not final."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import redis
import respx

from confrec.tasks.store import keys
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.schedule import ReconcileSchedule, conference_member
from confrec.worker.broker.clients import redis_client
from tests.support.reconciling import (
    BASE,
    RECORDINGS,
    listed,
    page,
    reconciler,
    started_job,
    status,
)


def test_two_claims_at_once_never_return_the_same_member(
    client: redis.Redis, own_redis_url: str
) -> None:
    members = [conference_member(str(uuid.uuid4())) for _ in range(300)]
    client.zadd(keys.RECONCILE_DUE, dict.fromkeys(members, time.time() - 1))
    claimed: list[list[str]] = [[], []]
    go = threading.Barrier(2)

    def claimer(n: int) -> None:
        schedule = ReconcileSchedule(redis_client(own_redis_url))
        go.wait()
        while got := schedule.claim(time.time(), 60, 7):
            claimed[n] += got

    threads = [threading.Thread(target=claimer, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert claimed[0] and claimed[1], "the two never ran at once"
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(members)


def test_a_job_started_while_its_conference_is_leased_is_not_dropped(client: redis.Redis) -> None:
    """A's conference is leased; B's 2xx is published; the run (which never saw B) is
    done with the conference: it stays scheduled for B, at B's time."""
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    started_job(client, conference_id)
    schedule = ReconcileSchedule(client)
    assert schedule.claim(time.time() + 1, 60, 10) == [member]
    started_job(client, conference_id, poll_at=time.time() + 5)
    due_b = client.zscore(keys.RECONCILE_DUE, member)
    assert due_b is not None and due_b < time.time() + 10  # B lowered the lease
    assert not schedule.release(member, None)
    assert client.zscore(keys.RECONCILE_DUE, member) == due_b
    assert not schedule.release(member, time.time() + 600)  # not claimed here: only earlier
    assert client.zscore(keys.RECONCILE_DUE, member) == due_b


def test_a_release_keeps_the_earlier_of_a_re_added_time_and_its_own(client: redis.Redis) -> None:
    schedule = ReconcileSchedule(client)
    member = conference_member(str(uuid.uuid4()))
    now = time.time()
    schedule.add(member, now - 1)
    assert schedule.claim(now, 60, 10) == [member]
    schedule.add(member, now + 50, only_if_earlier=True)  # re-added while leased
    assert not schedule.release(member, now + 20)
    assert client.zscore(keys.RECONCILE_DUE, member) == now + 20
    assert schedule.claim(now + 21, 60, 10) == [member]
    assert schedule.release(member, None)  # untouched while leased: done
    assert client.zscore(keys.RECONCILE_DUE, member) is None


def test_a_conference_ending_while_leased_keeps_its_lease(client: redis.Redis) -> None:
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    started_job(client, conference_id)
    schedule = ReconcileSchedule(client)
    assert schedule.claim(time.time() + 1, 60, 10) == [member]
    lease = client.zscore(keys.RECONCILE_DUE, member)
    store = ConferenceStore(client, RECORDINGS)
    assert store.store_ended(conference_id, reason="all_left", source="webhook", occurred_at=None)
    assert client.zscore(keys.RECONCILE_DUE, member) == lease  # nobody else takes it now


def test_the_reconcilers_own_end_poll_sets_the_grace_not_now(client: redis.Redis) -> None:
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    started_job(client, conference_id)
    found, api = reconciler(client, grace_s=300)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences/{conference_id}").mock(
            return_value=httpx.Response(200, json={"data": {"status": "completed"}})
        )
        assert found.run_due() == 1
    api.close()
    due = client.zscore(keys.RECONCILE_DUE, member)
    assert due is not None and due > time.time() + 250


def test_more_pages_than_the_bound_is_not_final(client: redis.Redis) -> None:
    """Recordings on pages not read could be the jobs': no job is made not_saved."""
    conference_id = str(uuid.uuid4())
    member = conference_member(conference_id)
    job_id = started_job(client, conference_id)
    ConferenceStore(client, RECORDINGS).store_ended(
        conference_id, reason=None, source="webhook", occurred_at=None
    )
    other = listed(conference_id, str(uuid.uuid4()), time.time() - 7200)  # no job's
    found, api = reconciler(client, max_pages=2)
    with respx.mock(assert_all_mocked=True) as mock:
        listing = mock.get(f"{BASE}/recordings").mock(
            return_value=httpx.Response(200, json=page([other], total_pages=3))
        )
        assert found.run_due() == 1
        assert listing.call_count == 2
    api.close()
    assert ConferenceStore(client, RECORDINGS).facts(conference_id).final_at is None
    assert status(client, job_id).recording.state == "pending"
    due = client.zscore(keys.RECONCILE_DUE, member)
    assert due is not None and due > time.time() + 600  # looked at again, later


def test_a_permanent_error_drops_a_conference_once_its_jobs_are_gone(client: redis.Redis) -> None:
    kept, gone = str(uuid.uuid4()), str(uuid.uuid4())
    job_id = started_job(client, kept)
    client.zadd(keys.RECONCILE_DUE, {conference_member(gone): time.time() - 1})
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(url__regex=rf"{BASE}/conferences/.*").mock(
            return_value=httpx.Response(401, json={"errors": [{"code": "10009"}]})
        )
        assert found.run_due() == 2
    api.close()
    assert client.zscore(keys.RECONCILE_DUE, conference_member(gone)) is None
    assert client.zscore(keys.RECONCILE_DUE, conference_member(kept)) is not None
    assert status(client, job_id).recording.state == "pending"
