"""What ``confrec recordings download`` fetches and where it puts it: file names safe for
any conference name (worker/downloads/naming.py), the recordings of jobs, once each
(plan.py), and many downloads at once with one line per failure (runner.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from confrec.tasks.job import Outcome
from confrec.tasks.status import JobStatus, RecordingView
from confrec.worker.downloads.fetch import Saved, Wanted
from confrec.worker.downloads.links import DownloadError, describe, pick
from confrec.worker.downloads.naming import MAX_COMPONENT, part_of, safe_component, target
from confrec.worker.downloads.plan import plan, recordings_of, why_none
from confrec.worker.downloads.runner import download_all, summary
from confrec.worker.exitcodes import ExitCode


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("3f2c-abc_1.x", "3f2c-abc_1.x"),
        ("a/b", "a%2Fb"),
        ("..", "%2E."),
        (".hidden", "%2Ehidden"),
        ("100% sure?", "100%25%20sure%3F"),
        ("Café", "Caf%C3%A9"),
        ("", "%00"),
        ("nul\x00", "nul%00"),
    ],
)
def test_any_conference_name_is_one_safe_path_component(name: str, safe: str) -> None:
    assert safe_component(name) == safe


def test_long_names_are_cut_and_stay_apart() -> None:
    one, two = safe_component("x" * 300 + "1"), safe_component("x" * 300 + "2")
    assert len(one) == MAX_COMPONENT and one != two
    assert len(part_of(target(Path("/d"), "y" * 999, "r" * 999, "wav")).name) < 255


def test_a_recording_goes_to_its_conference_folder_under_its_id() -> None:
    final = target(Path("/d"), "sales/EU", "rec-1", "mp3")
    assert final == Path("/d/sales%2FEU/rec-1.mp3")
    assert part_of(final) == Path("/d/sales%2FEU/.rec-1.mp3.part")


def test_the_labels_lead_the_file_name_in_key_order() -> None:
    labels = {"team": "sales/EU", "meeting": "4711"}
    final = target(Path("/d"), "weekly", "rec-1", "wav", labels)
    assert final == Path("/d/weekly/meeting-4711_team-sales%2FEU_rec-1.wav")


def status(job_id: str, recordings: list[dict[str, Any]], **kw: Any) -> JobStatus:
    outcome = Outcome(
        job_id=job_id, conference_id="c", command_id="x", status="succeeded", reason="ok"
    )
    view = RecordingView("saved" if recordings else None, None, recordings)
    fields: dict[str, Any] = {"outcome": outcome, "state": "finished", "recording": view} | kw
    return JobStatus(job_id=job_id, conference_id="conf/1", command_id="x", **fields)


NORMALIZED = {"recording_id": "r1", "conference_id": "c-id", "format": "mp3", "source": "webhook"}
OTHER = {"recording_id": "r2", "conference_id": "c-id", "format": "wav", "source": "webhook"}


def test_recordings_are_read_from_the_status() -> None:
    found = recordings_of(status("j1", [NORMALIZED, OTHER, {"no": "id"}]))
    assert [r["recording_id"] for r in found] == ["r1", "r2"]


def test_a_recording_on_two_jobs_is_fetched_once_and_jobs_without_say_why() -> None:
    failed = Outcome(
        job_id="j3", conference_id="c", command_id="x", status="failed", reason="rejected"
    )
    planned = plan(
        [
            status("j1", [NORMALIZED]),
            status("j2", [NORMALIZED, OTHER]),  # a re-sent job shows its original's
            status("j3", [], outcome=failed),
        ]
    )
    assert planned.wanted == [
        Wanted("j1", "r1", "conf/1", "mp3"),
        Wanted("j2", "r2", "conf/1", "wav"),
    ]
    assert planned.without == {"j3": "failed (rejected): no recording was started"}
    assert why_none(status("j4", [], outcome=None, state="queued")) == "queued, no outcome yet"
    pending = RecordingView("pending", "conference in progress")
    assert why_none(status("j5", [], recording=pending)) == "pending (conference in progress)"


def test_the_link_of_the_recorded_format_is_taken() -> None:
    data = {"download_urls": {"mp3": "https://f/a.mp3?s", "wav": "https://f/a.wav?s"}}
    assert pick(data, "wav") is not None and pick(data, "wav").url.endswith(".wav?s")  # type: ignore[union-attr]
    assert pick(data, None).format == "mp3"  # type: ignore[union-attr]
    assert pick({"download_urls": {}}, "wav") is None


def test_an_error_line_never_shows_a_link() -> None:
    exc = ValueError("bad https://files/x.wav?X-Amz-Signature=abc and more")
    assert describe(exc) == "ValueError: bad <link> and more"


class FakeFetcher:
    """Fails the recordings named ``bad``; counts how many run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self.lock = threading.Lock()
        self.gate = threading.Barrier(2, timeout=5)

    def fetch(self, wanted: Wanted, on_bytes: object) -> Saved:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if wanted.recording_id.startswith("pair"):
                self.gate.wait()  # two at once, or this times out
            if wanted.recording_id == "bad":
                raise DownloadError("the file host answered 404")
            return Saved(
                Path(f"/d/{wanted.recording_id}"), 10, skipped=wanted.recording_id == "old"
            )
        finally:
            with self.lock:
                self.running -= 1


def test_downloads_run_side_by_side_bounded_and_each_failure_is_one_line() -> None:
    wanted = [Wanted("j", r, "c", "wav") for r in ("pair1", "pair2", "bad", "old", "new")]
    fake, lines = FakeFetcher(), list[str]()
    report = download_all(
        fake,  # type: ignore[arg-type]
        wanted,
        concurrency=2,
        console=Console(file=open("/dev/null", "w"), force_terminal=False),  # noqa: SIM115
        on_failure=lines.append,
    )
    assert fake.most == 2
    assert lines == ["error: recording bad (job j): the file host answered 404"]
    assert report.code == ExitCode.DOWNLOAD_FAILED
    assert summary(report, Path("/d")) == (
        "downloaded 3 (30 B), already there 1, failed 1 of 5 recordings in /d"
    )


def test_nothing_failed_is_exit_0() -> None:
    fake = FakeFetcher()
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    report = download_all(fake, [Wanted("j", "old", "c", None)], concurrency=4, console=console)  # type: ignore[arg-type]
    assert report.code == ExitCode.OK and len(report.skipped) == 1
