"""The retry rules: which answers tell that Telnyx started nothing, and which failed jobs
may therefore be sent again."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from confrec.tasks import retry_rules as rules

SAFE = rules.RetryFacts(
    job_id="j",
    reason="retries_exhausted",
    attempts=3,
    nothing_started=3,
    recording=None,
    retried_as=None,
    has_fields=True,
)


@pytest.mark.parametrize(
    ("status", "nothing"),
    [(429, True), (503, True), (500, False), (502, False), (504, False), (408, False)],
)
def test_only_429_and_503_tell_that_nothing_started(status: int, nothing: bool) -> None:
    assert rules.started_nothing_status(status) is nothing


def test_only_a_connection_never_opened_tells_that_nothing_was_sent() -> None:
    assert rules.started_nothing_error(httpx.ConnectError("refused"))
    assert rules.started_nothing_error(httpx.ConnectTimeout("slow"))
    for sent in (httpx.ReadTimeout("r"), httpx.WriteTimeout("w"), httpx.RemoteProtocolError("c")):
        assert not rules.started_nothing_error(sent)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        ({"attempts": 0, "nothing_started": 0}, None),  # nothing was ever sent
        ({"nothing_started": 2}, rules.ATTEMPT_UNCERTAIN),
        ({"reason": "rejected"}, rules.NOT_TRANSIENT),
        ({"reason": "invalid"}, rules.NOT_TRANSIENT),
        ({"recording": "pending"}, rules.RECORDING_SEEN),
        ({"retried_as": "k"}, rules.ALREADY_RETRIED),
        ({"has_fields": False}, rules.JOB_UNKNOWN),
    ],
)
def test_a_failed_job_is_sent_again_only_when_certainly_nothing_started(
    change: dict[str, object], reason: str | None
) -> None:
    assert rules.why_not(dataclasses.replace(SAFE, **change)) == reason  # type: ignore[arg-type]


def test_a_job_whose_state_is_gone_is_unknown() -> None:
    assert rules.why_not(None) == rules.JOB_UNKNOWN
