"""What monitoring shows: the worker's metrics move where things happen (tasks/metrics.py),
and a failed outcome's FAILURE text (``JobFailed``) says why without secrets."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from celery.exceptions import Reject
from prometheus_client import REGISTRY
from pydantic import SecretStr

from confrec.tasks import metrics
from confrec.tasks.job import JobFailed, Outcome, RecordStartJob, TelnyxError
from confrec.tasks.policy import FaultPolicy
from confrec.tasks.record_start import _redelivery_marks
from confrec.tasks.redelivery import FaultHandler
from confrec.tasks.store import consumers
from confrec.tasks.store.ledger import Delivery, Fault
from confrec.tasks.store.throttle import FleetThrottle
from confrec.tasks.telnyx import TelnyxClient
from confrec.worker.task import _finished

API_KEY = "KEYsecret-monitoring-0123"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def change(name: str, action: Callable[[], object], **labels: str) -> float:
    before = value(name, **labels)
    action()
    return value(name, **labels) - before


def outcome(**fields: Any) -> Outcome:
    base = {"job_id": "j", "conference_id": "c", "command_id": "x"}
    return Outcome.model_validate(base | fields)


def test_an_outcome_counts_by_status_and_reason_and_observes_its_attempts() -> None:
    failed = outcome(status="failed", reason="rejected", attempts=1)
    labels = {"status": "failed", "reason": "rejected"}
    assert change("confrec_outcomes_total", lambda: metrics.outcome_published(failed), **labels)
    assert change("confrec_job_attempts_count", lambda: metrics.outcome_published(failed)) == 1
    assert change("confrec_job_attempts_sum", lambda: metrics.outcome_published(failed)) == 1


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> TelnyxClient:
    return TelnyxClient(
        "https://api.telnyx.test/v2", SecretStr(API_KEY), transport=httpx.MockTransport(handler)
    )


def test_every_telnyx_request_counts_its_code_or_error_and_its_duration() -> None:
    job = RecordStartJob(conference_id="conf-1", format="wav")
    rejected = _client(lambda _: httpx.Response(422, json={"errors": []}))
    assert change(
        "confrec_telnyx_requests_total", lambda: rejected.record_start(job, "c"), code="422"
    )

    def refuse(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    def send_refused() -> None:
        with pytest.raises(httpx.ConnectError):
            _client(refuse).record_start(job, "c")

    assert change("confrec_telnyx_requests_total", send_refused, code="error") == 1
    count = "confrec_telnyx_request_duration_seconds_count"
    assert change(count, lambda: rejected.record_start(job, "c")) == 1


class _Scripts:
    """A Redis client whose every Lua script answers the next of ``replies``."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)

    def register_script(self, _: str) -> Callable[..., object]:
        return lambda **_: self.replies.pop(0)

    def incrby(self, *_: object) -> None:
        pass


def test_the_time_waited_for_the_rate_limit_is_observed_per_attempt() -> None:
    slept: list[float] = []
    throttle = FleetThrottle(_Scripts([2, 250], [0, 0]), rate=4.0, sleep=slept.append)  # type: ignore[arg-type]
    waited = change("confrec_rate_limit_wait_seconds_sum", lambda: throttle.acquire("job"))
    assert slept == [0.25] and waited == pytest.approx(0.25)
    late = FleetThrottle(_Scripts([3, 5000]), rate=0.2)  # type: ignore[arg-type]
    assert change("confrec_rate_limit_wait_seconds_count", lambda: late.acquire("job", 0.0)) == 1


def test_a_delivery_finding_earlier_attempts_counts_as_a_redelivery() -> None:
    now = time.time()
    first = Delivery(1, now, attempts_before=0, last_attempt_at=None, succeeded_as=None)
    again = Delivery(2, now, attempts_before=1, last_attempt_at=now, succeeded_as=None)
    assert change("confrec_redeliveries_total", lambda: _redelivery_marks("j", first)) == 0
    assert change("confrec_redeliveries_total", lambda: _redelivery_marks("j", again)) == 1


def test_what_a_sweep_moves_back_counts_as_recovered() -> None:
    moved = change("confrec_recovered_jobs_total", lambda: consumers.sweep(_Scripts(3)))  # type: ignore[arg-type]
    assert moved == 3


class _FaultLedger:
    """The ledger's view of a job that raised once and has no outcome yet."""

    def count_fault(self, job_id: str) -> Fault:
        return Fault(number=1, attempts=0)


def test_a_delivery_that_raised_counts_as_faulty_before_it_is_requeued() -> None:
    faults = FaultHandler(_FaultLedger(), FaultPolicy(), sleep=lambda _: None)  # type: ignore[arg-type]

    def settle() -> None:
        with pytest.raises(Reject):
            faults.settle("j", {}, RuntimeError("boom"), enqueued_at=None, batch=None)

    assert change("confrec_faulty_deliveries_total", settle) == 1


def test_the_task_raises_job_failed_only_for_a_failed_outcome() -> None:
    succeeded = outcome(status="succeeded", reason="ok", attempts=2)
    assert _finished(succeeded) == "ok (attempts 2)"  # the reason first, as JobFailed's
    again = outcome(status="succeeded", reason="ok", attempts=0, duplicate_of="j0")
    assert _finished(again) == "ok: already done by j0 (attempts 0)"
    assert _finished(None) is None  # another delivery published it
    with pytest.raises(JobFailed, match=r"^rejected: 404 \(attempts 1\)$"):
        _finished(outcome(status="failed", reason="rejected", http_status=404, attempts=1))


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {
                "reason": "rejected",
                "http_status": 422,
                "attempts": 1,
                "errors": [TelnyxError(code="90019", title="Conference has already ended")],
            },
            "rejected: 422 90019 Conference has already ended (attempts 1)",
        ),
        (
            {"reason": "retries_exhausted", "attempts": 4, "detail": "ReadTimeout"},
            "retries_exhausted: ReadTimeout (attempts 4)",
        ),
        (
            {"reason": "invalid", "errors": [TelnyxError(code="invalid", title="format")]},
            "invalid: invalid format (attempts 0)",
        ),
    ],
)
def test_a_failed_outcome_raises_a_text_saying_why(fields: dict[str, Any], text: str) -> None:
    assert str(JobFailed.of(outcome(status="failed", **fields))) == text


def test_the_confrec_command_does_not_import_prometheus_client_before_the_worker_sets_it_up() -> (
    None
):
    """Its multiprocess mode is chosen at import: ``confrec worker`` must set it first."""
    code = "import sys, confrec.worker.cli.commands; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0
