"""How long ``bulk --wait`` waits by default, what it reports, and the exit codes it ends on."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.worker.batches.report import WAIT_CAP_S, Tally, default_wait_timeout
from confrec.worker.batches.watch import BulkResult, Waited
from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.demo import Shown, verdict


def settings(**fields: object) -> Settings:
    return Settings.model_validate({"broker_url": "redis://localhost:6379/0", **fields})


def test_exit_codes_are_the_documented_numbers() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "JOB_FAILED": 1,
        "INVALID": 2,
        "BROKER": 3,
        "TIMED_OUT": 4,
        "UNKNOWN_JOB": 5,
        "PORT_IN_USE": 6,
        "DOWNLOAD_FAILED": 7,
        "NOT_SAVED": 8,
        "WEBHOOKS_UNVERIFIED": 9,
        "RECONCILE_FAILED": 10,
        "INTERRUPTED": 130,
    }


def test_default_bound_is_start_up_plus_jobs_at_10_per_s_plus_one_redelivered_job() -> None:
    # 30 s start-up + 200 jobs / 10/s + redelivery (visibility 45 s + 2 s sweep + 5 s
    # restore lock) + longest job 25+10+5 s
    assert default_wait_timeout(200, settings()) == 30 + 20 + 45 + 2 + 5 + 40


def test_default_bound_follows_the_retry_and_redelivery_settings() -> None:
    fast = settings(retry_deadline=8, http_timeout=2, visibility_timeout=20)
    assert default_wait_timeout(0, fast) == 30 + 20 + 2 + 5 + (8 + 2 + 5)


def test_a_fleet_rate_limit_below_10_per_s_lengthens_the_bound() -> None:
    unlimited = default_wait_timeout(100, settings())
    assert default_wait_timeout(100, settings(rate_limit=2)) == unlimited - 10 + 50
    assert default_wait_timeout(100, settings(rate_limit=500)) == unlimited


def test_default_bound_is_capped() -> None:
    assert default_wait_timeout(10_000_000, settings()) == WAIT_CAP_S


def tally_of(*statuses: str) -> Tally:
    tally = Tally()
    for n, status in enumerate(statuses):
        reason = "ok" if status == "succeeded" else "rejected"
        tally.add(
            Outcome.model_validate(
                {
                    "job_id": f"j{n}",
                    "conference_id": f"c{n}",
                    "command_id": f"k{n}",
                    "status": status,
                    "reason": reason,
                    "attempts": 1,
                    "enqueued_at": "2026-01-01T00:00:00+00:00",
                    "finished_at": "2026-01-01T00:00:01+00:00",
                }
            )
        )
    return tally


def test_the_json_summary_counts_what_is_missing() -> None:
    summary = Waited("b1", 5, 7.5, tally_of("succeeded", "failed")).as_dict()
    assert (summary["complete"], summary["missing"], summary["timeout_s"]) == (False, 3, 7.5)
    assert (summary["outcomes"], summary["failed"]) == (2, 1)


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (BulkResult(ExitCode.OK), ExitCode.OK),
        (BulkResult(ExitCode.JOB_FAILED), ExitCode.OK),  # the demo fails some on purpose
        (BulkResult(ExitCode.TIMED_OUT, missing=12), ExitCode.TIMED_OUT),
        (BulkResult(ExitCode.TIMED_OUT, unsaved=3), ExitCode.TIMED_OUT),
        (BulkResult(ExitCode.BROKER), ExitCode.BROKER),
    ],
)
def test_the_demo_fails_only_when_something_other_than_a_job_went_wrong(
    result: BulkResult, code: ExitCode
) -> None:
    err = io.StringIO()
    assert verdict(result, 200, Console(file=err, width=40, soft_wrap=True)) == code
    if result.missing:
        assert err.getvalue().splitlines() == ["error: demo incomplete: 12 of 200 outcomes missing"]
    if result.unsaved:
        assert err.getvalue().splitlines() == [
            "error: demo incomplete: 3 started recordings not reported saved"
        ]


def shown(unsaved: int, reconciled: int = 1) -> Shown:
    return Shown(unsaved, ["found by reconciliation: ..."] * reconciled, expect_reconciled=True)


@pytest.mark.parametrize(
    ("states", "seen", "code"),
    [
        ({"saved": 8, "not_saved": 2}, shown(2), ExitCode.OK),  # the unsaved- ones, as meant
        ({"saved": 9, "not_saved": 1}, shown(2), ExitCode.NOT_SAVED),
        ({"saved": 8, "not_saved": 2, "ambiguous": 1}, shown(2), ExitCode.NOT_SAVED),
        ({"saved": 8, "unknown": 1}, shown(0), ExitCode.NOT_SAVED),
        ({"saved": 10}, shown(0, reconciled=0), ExitCode.NOT_SAVED),  # reconciliation unseen
    ],
)
def test_the_demo_is_ok_only_when_its_summary_is_what_it_set_out_to_show(
    states: dict[str, int], seen: Shown, code: ExitCode
) -> None:
    result = BulkResult(ExitCode.NOT_SAVED, states=states)
    assert verdict(result, 10, Console(file=io.StringIO()), seen) == code
