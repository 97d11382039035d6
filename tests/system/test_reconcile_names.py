"""A job addressed by name, resolved on a real Redis (Telnyx answered by respx): not
found, ambiguous, a UUID tried as an id first, errors retried, and a resolver killed
between its steps never leaves the name resolved on a conference nobody looks at."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import redis
import respx

from confrec.tasks.store import keys
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.schedule import ReconcileSchedule, conference_member, name_member
from tests.support.reconciling import BASE, RESULTS, iso, page, reconciler, started_job, status


def in_progress(name: str) -> dict[str, Any]:
    """A conference of that name, begun ten minutes ago and still running."""
    now = time.time()
    return {
        "record_type": "conference",
        "id": str(uuid.uuid4()),
        "name": name,
        "status": "in_progress",
        "created_at": iso(now - 600),
        "expires_at": iso(now + 3600),
    }


def name_state(client: redis.Redis, job_id: str) -> tuple[str | None, str | None]:
    record = JobLedger(client, RESULTS).record(job_id)
    assert record is not None
    return record.name_state, record.resolved_id


def test_a_name_telnyx_never_lists_is_name_not_found(client: redis.Redis) -> None:
    job_id = started_job(client, f"room-{uuid.uuid4().hex[:8]}")
    assert status(client, job_id).recording.state == "pending"
    found, api = reconciler(client, clock=lambda: time.time() + 700)  # asked for 10 min
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences").mock(return_value=httpx.Response(200, json=page([])))
        assert found.run_due() == 1
    api.close()
    shown = status(client, job_id).recording
    assert (shown.state, shown.reason) == ("unknown", "name_not_found")
    assert client.zscore(keys.RECONCILE_DUE, name_member(job_id)) is None


def test_two_conferences_of_the_name_over_the_window_is_name_ambiguous(client: redis.Redis) -> None:
    name = f"room-{uuid.uuid4().hex[:8]}"
    job_id = started_job(client, name)
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences").mock(
            return_value=httpx.Response(200, json=page([in_progress(name), in_progress(name)]))
        )
        assert found.run_due() == 1
    api.close()
    shown = status(client, job_id).recording
    assert (shown.state, shown.reason) == ("unknown", "name_ambiguous")
    assert name_state(client, job_id) == ("name_ambiguous", None)


def test_a_uuid_is_tried_as_an_id_first(client: redis.Redis) -> None:
    """A UUID Telnyx once knew no conference by is asked for by name; it is an id after
    all: resolved to itself, no list asked."""
    conference_id = str(uuid.uuid4())
    job_id = started_job(client, conference_id, poll_at=time.time() + 3600)
    JobLedger(client, RESULTS).set_name_state(job_id, "pending")
    ReconcileSchedule(client).add(name_member(job_id), time.time() - 1)
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        by_id = mock.get(f"{BASE}/conferences/{conference_id}").mock(
            return_value=httpx.Response(
                200, json={"data": in_progress("x") | {"id": conference_id}}
            )
        )
        listing = mock.get(f"{BASE}/conferences").mock(return_value=httpx.Response(500))
        assert found.run_due() == 1
        assert by_id.call_count == 1 and listing.call_count == 0
    api.close()
    assert name_state(client, job_id) == ("resolved", conference_id)


def test_a_resolver_error_is_retried(client: redis.Redis) -> None:
    name = f"room-{uuid.uuid4().hex[:8]}"
    job_id = started_job(client, name)
    conference = in_progress(name)
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences").mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json=page([conference]))]
        )
        assert found.run_due() == 1
        assert name_state(client, job_id) == ("pending", None)
        again = client.zscore(keys.RECONCILE_DUE, name_member(job_id))
        assert again is not None and again > time.time() + 10  # backed off
        assert found.run_due(now=again) == 1
    api.close()
    assert name_state(client, job_id) == ("resolved", conference["id"])
    assert client.zscore(keys.RECONCILE_DUE, conference_member(conference["id"])) is not None


def test_a_resolver_killed_before_scheduling_leaves_the_name_pending(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"room-{uuid.uuid4().hex[:8]}"
    job_id = started_job(client, name)
    conference = in_progress(name)
    add = ReconcileSchedule.add

    def killed(self: ReconcileSchedule, member: str, at: float, **kw: bool) -> None:
        if member.startswith("c:"):
            raise RuntimeError("killed")
        add(self, member, at, **kw)

    monkeypatch.setattr(ReconcileSchedule, "add", killed)
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/conferences").mock(
            return_value=httpx.Response(200, json=page([conference]))
        )
        assert found.run_due() == 1
        assert name_state(client, job_id) == ("pending", None)  # asked again, not lost
        assert client.zscore(keys.RECONCILE_DUE, name_member(job_id)) is not None
        monkeypatch.setattr(ReconcileSchedule, "add", add)
        assert found.run_due(now=time.time() + 3600) == 1
    api.close()
    assert name_state(client, job_id) == ("resolved", conference["id"])
    assert client.zscore(keys.RECONCILE_DUE, conference_member(conference["id"])) is not None
