"""Following a batch's outcomes (and, if asked, its saved recordings) and summarizing
them, for ``bulk --wait`` and the demo."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.table import Table

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.tasks.status import SETTLED, JobStatus
from confrec.tasks.store.streams import ResultsStream
from confrec.worker.batches.failures import Failure

#: Before the first outcome: workers starting, connecting and reaching the queue.
WAIT_STARTUP_S = 30.0
#: Jobs per second a fleet is assumed to finish at the least. One 16-thread worker does
#: ~240/s against a 20 ms API; 10/s leaves room for slow answers, retries, a small fleet.
WAIT_MIN_RATE = 10.0
#: No default wait is longer; pass ``--timeout`` for bigger files or slower fleets.
WAIT_CAP_S = 6 * 3600.0
#: ``--until-saved`` without ``--timeout``: how long after the last outcome it waits for
#: recordings, beyond CONFREC_RECORDING_GRACE_S (a job is ``not_saved`` only past that
#: grace after its conference ended). Telnyx saves a recording when its conference ends
#: or recording stops, which this side cannot know: give ``--timeout`` to match how long
#: your conferences run.
RECORDINGS_WAIT_S = 600.0
#: Jobs whose recording state one round of ``wait_for_recordings`` reads, and how often.
STATES_PER_ROUND = 500
STATES_EVERY_S = 1.0


RECORDING_STATES = ("saved", "not_saved", "unknown", "ambiguous", "pending")
OK = ("succeeded", "ok")
#: The summary's row of succeeded jobs that sent nothing (a re-run's rows).
ALREADY_DONE = "already done (nothing sent)"


@dataclass
class Tally:
    """Outcome counts by (status, reason)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    retried: Counter[tuple[str, str]] = field(default_factory=Counter)
    already_done: int = 0
    """Succeeded jobs that sent nothing: their command_id had already started a recording
    (``duplicate_of``: a re-run with the same ``--batch-key``, or a repeated row)."""
    failures: list[Failure] = field(default_factory=list)
    """Each failed job, small (``Failure``), in the order the outcomes came."""
    started: set[str] | None = None
    """With ``--until-saved``: the jobs Telnyx accepted (a duplicate of another job's
    command included: its recording is its original's), whose recording is awaited."""
    states: dict[str, str] = field(default_factory=dict)
    """With ``--until-saved``: the recording state of each of ``started`` last read."""

    def count(self, state: str) -> int:
        return sum(1 for s in self.states.values() if s == state)

    @property
    def saved(self) -> int:
        return self.count("saved")

    @property
    def unsettled(self) -> list[str]:
        """Started jobs whose recording is still ``pending`` (or not read yet)."""
        return [j for j in sorted(self.started or ()) if self.states.get(j) not in SETTLED]

    def add(self, outcome: Outcome) -> None:
        key = (outcome.status, outcome.reason)
        self.counts[key] += 1
        if outcome.attempts > 1:
            self.retried[key] += 1
        if outcome.duplicate_of is not None and key == OK:
            self.already_done += 1
        if outcome.status == "failed":
            self.failures.append(Failure.of(outcome))
        if self.started is not None and outcome.status == "succeeded":
            self.started.add(outcome.job_id)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return sum(n for (status, _), n in self.counts.items() if status == "failed")

    def as_dict(self) -> dict[str, object]:
        return {
            "outcomes": self.done,
            "succeeded": self.done - self.failed,
            "failed": self.failed,
            "by_reason": {f"{s}/{r}": n for (s, r), n in sorted(self.counts.items())},
            "retried": sum(self.retried.values()),
            "already_done": self.already_done,
        } | (
            {"started": len(self.started)} | {s: self.count(s) for s in RECORDING_STATES}
            if self.started is not None
            else {}
        )


def seconds(value: float) -> str:
    """A duration as a person reads it: ``25s`` (not 24.9591s), ``0.5s``."""
    return f"{round(value) if value >= 10 else round(value, 1):g}s"


def default_wait_timeout(jobs: int, settings: Settings) -> float:
    """How long ``bulk --wait`` waits without ``--timeout``: a start-up allowance, the jobs
    at a conservative fleet rate (never above ``CONFREC_RATE_LIMIT``), then the tail of the
    last job — its worker may die, Redis redelivers it within ``longest_redelivery_s``,
    and the second delivery runs at most ``longest_job_s``. Capped at 6 h; whole seconds,
    rounded up."""
    rate = min(WAIT_MIN_RATE, settings.rate_limit or WAIT_MIN_RATE)
    tail = settings.longest_redelivery_s + settings.longest_job_s
    return float(min(math.ceil(WAIT_STARTUP_S + jobs / rate + tail), WAIT_CAP_S))


def wait_for_batch(
    stream: ResultsStream,
    batch: str,
    total: int,
    *,
    after: str,
    timeout_s: float,
    on_outcome: Callable[[Outcome, Tally], None] | None = None,
    tally: Tally | None = None,
    on_idle: Callable[[], None] | None = None,
) -> tuple[Tally, bool]:
    """Follow the stream from ``after`` until ``total`` outcomes of ``batch`` arrived,
    counting them into ``tally`` (a new one by default); ``on_idle`` is called whenever a
    read brought none of them (at least every half second).

    Returns the tally and whether it is complete (False when ``timeout_s`` ran out).
    """
    tally = tally if tally is not None else Tally()
    deadline = time.monotonic() + timeout_s
    if total == 0:
        return tally, True
    for entry in stream.follow(after, block_ms=500):
        if entry is not None and entry.outcome.batch == batch:
            tally.add(entry.outcome)
            if on_outcome is not None:
                on_outcome(entry.outcome, tally)
            if tally.done >= total:
                return tally, True
        elif on_idle is not None:
            on_idle()
        if time.monotonic() > deadline:
            return tally, False
    return tally, False


def wait_for_recordings(
    states_of: Callable[[list[str]], dict[str, str | None]],
    tally: Tally,
    *,
    timeout_s: float,
    on_state: Callable[[Tally], None] | None = None,
) -> bool:
    """Read the recording state of every job of ``tally.started`` until none is
    ``pending``; False when ``timeout_s`` ran out first. States are read, not followed:
    a recording found by reconciliation, or matched once a late fact arrives, is seen
    the same way as one a webhook brought."""
    deadline = time.monotonic() + timeout_s
    while True:
        for job_id, state in states_of(tally.unsettled[:STATES_PER_ROUND]).items():
            tally.states[job_id] = state or "pending"
        if on_state is not None:
            on_state(tally)
        left = deadline - time.monotonic()
        if not tally.unsettled or left <= 0:
            return not tally.unsettled
        time.sleep(min(STATES_EVERY_S, left))


def summary_table(tally: Tally, title: str = "Outcomes") -> Table:
    """Jobs by status and reason; with recordings followed, a "saved" column too."""
    table = Table(title=title)
    table.add_column("status")
    table.add_column("reason")
    table.add_column("jobs", justify="right")
    table.add_column("of which retried", justify="right")
    followed = tally.started is not None
    if followed:
        table.add_column("recordings saved", justify="right")
    saved = tally.saved
    rows = _rows(tally)
    for (status, reason), n in rows:
        style = "green" if status == "succeeded" else "red"
        row = [f"[{style}]{status}[/{style}]", reason, str(n), str(tally.retried[(status, reason)])]
        table.add_row(*row, *([str(saved) if status == "succeeded" else "-"] if followed else []))
    table.add_section()
    total = ["total", "", str(tally.done), str(sum(tally.retried.values()))]
    table.add_row(*total, *([str(saved)] if followed else []))
    return table


def _rows(tally: Tally) -> list[tuple[tuple[str, str], int]]:
    """(status, reason) and jobs, sorted; the succeeded jobs that sent nothing on a row of
    their own, right after the ones that did."""
    rows: list[tuple[tuple[str, str], int]] = []
    for key, n in sorted(tally.counts.items()):
        if key == OK and tally.already_done:
            rows += [(OK, n - tally.already_done)] if n > tally.already_done else []
            rows.append((("succeeded", ALREADY_DONE), tally.already_done))
        else:
            rows.append((key, n))
    return rows


def outcome_line(outcome: Outcome, as_json: bool, recording: str | None = None) -> str:
    """One outcome as a line: its JSON, or a short human summary; with the job's
    recording state when it has one (``confrec results``)."""
    if as_json:
        if recording is None:
            return outcome.to_json()
        shown = json.loads(outcome.to_json()) | {"recording_state": recording}
        return json.dumps(shown, separators=(",", ":"))
    http = outcome.http_status if outcome.http_status is not None else "-"
    errors = "; ".join(f"{e.code} {e.title}" for e in outcome.errors)
    saved = f" recording={recording}" if recording else ""
    return (
        f"{outcome.finished_at}  {outcome.job_id}  {outcome.status:<9} {outcome.reason:<17} "
        f"http={http} "
        f"attempts={outcome.attempts}{saved}  {outcome.conference_id!r}  {errors}"
    ).rstrip()


def status_lines(status: JobStatus) -> list[str]:
    """``confrec status``: one fact per line, "name  value", greppable."""
    lines = [
        f"job_id         {status.job_id}",
        f"conference_id  {status.conference_id!r}",
        f"command_id     {status.command_id}",
        f"state          {status.state}",
    ]
    if status.labels:
        lines.append(f"labels         {json.dumps(status.labels, ensure_ascii=False)}")
    if status.outcome is not None:
        lines.append(f"outcome        {outcome_line(status.outcome, as_json=False)}")
    view = status.recording
    if view.state is not None:
        why = f" ({view.reason})" if view.reason else ""
        lines.append(f"recording      {view.state}{why}")
    for rec in view.recordings:
        urls = rec.get("recording_urls") or {}
        url = urls.get(rec.get("format")) or next(iter(urls.values()), "links expired")
        fmt, source = rec.get("format"), rec["source"]
        lines.append(f"recording_id   {rec['recording_id']} {fmt} {source} {url}")
    for rec in view.other_recordings:
        lines.append(f"other          {rec['recording_id']} {rec['match']}")
    return lines
