"""Many recordings at once: ``concurrency`` downloads in threads, a progress bar on
stderr (files done, and a bar of bytes per file in flight), one line per failure the
moment it happens, and a report to summarize. Ctrl-C stops the downloads in flight
between two chunks (their ``.part`` files stay, for the next run to resume).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from confrec.tasks.telnyx import DeadlineTransport
from confrec.worker.downloads.fetch import Fetcher, Saved, Wanted
from confrec.worker.downloads.links import DownloadError, describe
from confrec.worker.exitcodes import ExitCode


@dataclass
class Report:
    downloaded: list[tuple[Wanted, Saved]] = field(default_factory=list)
    skipped: list[tuple[Wanted, Saved]] = field(default_factory=list)
    failed: list[tuple[Wanted, str]] = field(default_factory=list)

    @property
    def code(self) -> ExitCode:
        return ExitCode.DOWNLOAD_FAILED if self.failed else ExitCode.OK


class _Stopped(DownloadError):
    pass


def file_client(concurrency: int, *, timeout: float, connect_timeout: float) -> httpx.Client:
    """The client for the file host: no Telnyx key (the links are signed), redirects
    followed, one connection per download, every socket operation bounded (and each file
    in total, by ``attempt_deadline``)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        transport=DeadlineTransport(limits),
    )


def failure_line(wanted: Wanted, why: str) -> str:
    return f"error: recording {wanted.recording_id} (job {wanted.job_id}): {why}"


def download_all(
    fetcher: Fetcher,
    wanted: list[Wanted],
    *,
    concurrency: int,
    console: Console,
    on_failure: Callable[[str], None] | None = None,
) -> Report:
    """Download every recording of ``wanted``; failures are reported, never raised."""
    report = Report()
    stop = threading.Event()
    say = on_failure or (lambda line: console.print(line, markup=False, highlight=False))
    with _progress(console) as progress:
        overall = progress.add_task("recordings", total=len(wanted), amount=f"0/{len(wanted)}")

        def one(item: Wanted) -> Saved:
            task = progress.add_task(f"  {item.recording_id[:12]}", total=None, amount="")

            def on_bytes(done: int, total: int) -> None:
                if stop.is_set():
                    raise _Stopped("stopped (Ctrl-C); the partial file is kept to resume")
                amount = f"{_bytes(done)}/{_bytes(total)}"
                progress.update(task, completed=done, total=total, amount=amount)

            try:
                return fetcher.fetch(item, on_bytes)
            finally:
                progress.remove_task(task)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="download") as pool:
            futures = {pool.submit(one, item): item for item in wanted}
            try:
                for future in as_completed(futures):
                    item = futures[future]
                    try:
                        saved = future.result()
                    except DownloadError as exc:
                        _failed(report, item, str(exc), say)
                    except OSError as exc:  # the disk: full, read-only, a name in the way
                        _failed(report, item, f"writing the file: {describe(exc)}", say)
                    except Exception as exc:  # one line, never a traceback
                        _failed(report, item, f"unexpected {describe(exc)}", say)
                    else:
                        (report.skipped if saved.skipped else report.downloaded).append(
                            (item, saved)
                        )
                    progress.advance(overall)
                    finished = len(report.downloaded) + len(report.skipped) + len(report.failed)
                    progress.update(overall, amount=f"{finished}/{len(wanted)}")
            except KeyboardInterrupt:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    return report


def _failed(report: Report, item: Wanted, why: str, say: Callable[[str], None]) -> None:
    report.failed.append((item, why))
    say(failure_line(item, why))


def summary(report: Report, dest: Path) -> str:
    """The last line: what happened to each recording, and where the files are."""
    total = len(report.downloaded) + len(report.skipped) + len(report.failed)
    size = sum(saved.size for _, saved in report.downloaded)
    return (
        f"downloaded {len(report.downloaded)} ({_bytes(size)}), already there "
        f"{len(report.skipped)}, failed {len(report.failed)} of {total} recordings in {dest}"
    )


def as_json(report: Report, dest: Path) -> dict[str, object]:
    """``--json``: every recording, by what happened to it."""

    def saved(rows: list[tuple[Wanted, Saved]]) -> list[dict[str, object]]:
        return [
            {
                "recording_id": w.recording_id,
                "job_id": w.job_id,
                "path": str(s.path),
                "bytes": s.size,
            }
            for w, s in rows
        ]

    return {
        "dest": str(dest),
        "downloaded": saved(report.downloaded),
        "skipped": saved(report.skipped),
        "failed": [
            {"recording_id": w.recording_id, "job_id": w.job_id, "reason": why}
            for w, why in report.failed
        ],
    }


def _bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    scaled = float(n)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000:
            return f"{scaled:.1f} {unit}"
    return f"{scaled / 1000:.1f} TB"


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
