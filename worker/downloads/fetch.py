"""One recording to one file — complete and verified, or not at all under its name.

The bytes go to ``.<name>.part`` beside the final name; only once the file host's
``Content-Length`` (or a 206's ``Content-Range`` total) is reached exactly are they
fsynced and renamed (then the folder fsynced), so a crash, a short body or a dead link
never leaves a half file where a finished one is expected. A ``.part`` left by an
earlier run is resumed with ``Range: bytes=N-``; a host that ignores the range (200)
starts it over. A 403 is an expired link: a fresh one is asked of Telnyx and the
download goes on from where it stopped. A final file already there is skipped when the
host's size for it matches (one ``Range: bytes=0-0`` request tells).

Bounds: every socket operation has httpx's timeouts and the whole file a deadline
(``file_timeout_s``, all attempts included, enforced by the transport's
``attempt_deadline``); attempts that move no byte forward end it after
``stalls``; links are asked at most ``links`` times. The ``.part`` is locked while written, so
two runs into one folder cannot interleave.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import httpx

from confrec.tasks.telnyx import attempt_deadline
from confrec.worker.downloads import naming
from confrec.worker.downloads.links import DownloadError, FreshLinks, Link, describe

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_UNSATISFIED = re.compile(r"^bytes \*/(\d+)$")

#: ``on_bytes(done, total)`` after each chunk: bytes in the file so far, and its size.
OnBytes = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Wanted:
    """One recording to download, and the job it is downloaded for."""

    job_id: str
    recording_id: str
    folder: str
    """The job's conference as it addressed it (id or name): the file's folder."""
    format: str | None
    """The format the job recorded (the link of that format is taken when there)."""
    labels: dict[str, str] | None = None
    """The job's labels: they lead the file's name, so ``ls`` finds "meeting 4711"."""


@dataclass(frozen=True)
class Saved:
    path: Path
    size: int
    skipped: bool
    """It was already there, complete: nothing was downloaded."""


@dataclass(frozen=True)
class Bounds:
    file_timeout_s: float = 1800.0
    stalls: int = 3
    """Attempts in a row that add no byte (a 403, an error, a short body) before giving up."""
    links: int = 10


class _Expired(Exception):
    """The file host refused the link (403/401): it expired; ask Telnyx for a fresh one."""


class _Again(Exception):
    """The attempt ended early (an error, a short body, a 5xx); ``why`` says how."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Fetcher:
    """Downloads recordings into ``dest`` with ``http`` (a client without Telnyx's key:
    the links carry their own signature) and links from ``links``."""

    def __init__(
        self,
        http: httpx.Client,
        links: FreshLinks,
        dest: Path,
        bounds: Bounds | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._links = links
        self._dest = dest
        self._bounds = bounds or Bounds()
        self._sleep = sleep

    def fetch(self, wanted: Wanted, on_bytes: OnBytes) -> Saved:
        """Download one recording (or find it already there); ``DownloadError`` when not."""
        return _One(self, wanted, on_bytes).run()


class _One:
    """One recording's download: its current link, its deadline, its counters."""

    def __init__(self, fetcher: Fetcher, wanted: Wanted, on_bytes: OnBytes) -> None:
        self.f, self.wanted, self.on_bytes = fetcher, wanted, on_bytes
        self.bounds = fetcher._bounds
        self.deadline = time.monotonic() + self.bounds.file_timeout_s
        self.asked = 0
        self.link = self._fresh()

    def run(self) -> Saved:
        wanted = self.wanted
        final = naming.target(
            self.f._dest, wanted.folder, wanted.recording_id, self.link.format, wanted.labels
        )
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            size = final.stat().st_size
            if self._with_link(self._probe) == size:
                self.on_bytes(size, size)
                return Saved(final, size, skipped=True)
        part = naming.part_of(final)
        with open(part, "ab") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DownloadError(f"another download is writing {part}") from None
            total = self._fill(fh, part)
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(part, final)  # still locked: no other run writes the name it had
        _fsync_dir(final.parent)
        return Saved(final, total, skipped=False)

    def _fill(self, fh: BinaryIO, part: Path) -> int:
        """Attempts until the part holds the whole file; returns its size."""
        stalls, best = 0, _size(fh)
        while True:
            try:
                total = self._with_link(lambda url: self._attempt(fh, url))
                if _size(fh) == total:
                    return total
                raise _Again(f"the partial file has {_size(fh)} of {total} bytes")
            except _Again as again:
                have = _size(fh)
                stalls = 0 if have > best else stalls + 1
                best = max(best, have)
                if stalls >= self.bounds.stalls:
                    kept = f"; {have} bytes kept in {part.name} to resume" if have else ""
                    raise DownloadError(f"{again.why} ({stalls} tries in a row){kept}") from None
                self._pause(stalls, again.why)

    def _attempt(self, fh: BinaryIO, url: str) -> int:
        """One GET from the end of the part; the file's total size when the part is now
        complete, else ``_Again``/``_Expired``/``DownloadError``."""
        have = _size(fh)
        headers = {"Accept-Encoding": "identity"} | ({"Range": f"bytes={have}-"} if have else {})
        try:
            with self._bounded(), self.f._http.stream("GET", url, headers=headers) as r:
                start, total = self._answer(r, fh, have)
                self.on_bytes(start, total)
                if start == total:  # a 416 at the very end: the part is complete
                    return total
                written, expected = 0, total - start
                for chunk in r.iter_bytes():  # as it arrives: a cut-off keeps all it got
                    if written + len(chunk) > expected:
                        fh.truncate(0)
                        raise DownloadError("the file host sent more than its length; discarded")
                    fh.write(chunk)
                    written += len(chunk)
                    self.on_bytes(start + written, total)
        except httpx.HTTPError as exc:
            raise _Again(f"download interrupted: {describe(exc)}") from None
        finally:
            fh.flush()
        if written < expected:
            raise _Again(f"short body: {start + written} of {total} bytes")
        return total

    def _answer(self, r: httpx.Response, fh: BinaryIO, have: int) -> tuple[int, int]:
        """Where the body starts in the file, and the file's size; the part is reset when
        the host starts elsewhere than asked."""
        status = r.status_code
        if status in (401, 403):
            raise _Expired
        if r.headers.get("content-encoding", "identity") != "identity":
            raise DownloadError("the file host sent it encoded (Content-Encoding); not saved")
        if status == 416:  # nothing at or after ``have``: complete, or the part is too long
            found = _UNSATISFIED.match(r.headers.get("content-range", ""))
            if found and int(found.group(1)) == have:
                return have, have
            fh.truncate(0)
            raise _Again("the partial file did not match the host's; starting over")
        if status == 200:
            total = _length(r)
            if have:
                fh.truncate(0)  # the host ignored the range: the body is the whole file
            return 0, total
        if status == 206:
            found = _RANGE.match(r.headers.get("content-range", ""))
            if not found or int(found.group(1)) != have:
                fh.truncate(0)
                raise _Again("the file host answered another range than asked; starting over")
            start, end, total = (int(g) for g in found.groups())
            if end != total - 1 or _length(r) != end - start + 1:
                raise DownloadError("the file host's Content-Range and Content-Length disagree")
            return start, total
        if status == 429 or status >= 500:
            raise _Again(f"the file host answered {status}")
        raise DownloadError(f"the file host answered {status}")

    def _probe(self, url: str) -> int:
        """The host's size of the file (one byte asked)."""
        try:
            with (
                self._bounded(),
                self.f._http.stream("GET", url, headers={"Range": "bytes=0-0"}) as r,
            ):
                if r.status_code in (401, 403):
                    raise _Expired
                if r.status_code == 206:
                    found = _RANGE.match(r.headers.get("content-range", ""))
                    if found:
                        return int(found.group(3))
                if r.status_code == 200:
                    return _length(r)
                raise DownloadError(f"the file host answered {r.status_code} (checking size)")
        except httpx.HTTPError as exc:
            raise DownloadError(f"checking the size failed: {describe(exc)}") from None

    def _with_link(self, op: Callable[[str], T]) -> T:
        """``op(url)``; on an expired link, again with a fresh one. Bounded: a fresh link
        refused at once twice is not an expiry, and at most ``links`` are asked."""
        refused = 0
        while True:
            try:
                return op(self.link.url)
            except _Expired:
                refused += 1
                if refused > 2 or self.asked >= self.bounds.links:
                    raise DownloadError(
                        f"the file host refused the link (403) after {self.asked} from Telnyx"
                    ) from None
                self.link = self._fresh()

    def _fresh(self) -> Link:
        self.asked += 1
        return self.f._links.get(self.wanted.recording_id, self.wanted.format, self.deadline)

    def _bounded(self) -> AbstractContextManager[None]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DownloadError(f"not done within {self.bounds.file_timeout_s:g}s")
        return attempt_deadline(left)

    def _pause(self, stalls: int, why: str) -> None:
        wait = min(0.2 * 2**stalls, 5.0)
        if time.monotonic() + wait > self.deadline:
            raise DownloadError(f"{why}; not done within {self.bounds.file_timeout_s:g}s")
        self.f._sleep(wait)


def _size(fh: BinaryIO) -> int:
    return os.fstat(fh.fileno()).st_size


def _length(r: httpx.Response) -> int:
    value = r.headers.get("content-length", "")
    if not value.isdigit():
        raise DownloadError("the file host sent no Content-Length: the file cannot be checked")
    return int(value)


def _fsync_dir(folder: Path) -> None:
    """The rename is durable only once the folder's entry is."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
