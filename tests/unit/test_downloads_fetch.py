"""One recording's download (worker/downloads/fetch.py) against respx-mocked Telnyx and
file host: fresh links, resume with Range, a fresh link on 403, lengths checked, the
final name written only when complete."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from confrec.tasks.telnyx_api import TelnyxApi
from confrec.worker.downloads.fetch import Bounds, Fetcher, Saved, Wanted
from confrec.worker.downloads.links import DownloadError, FreshLinks
from confrec.worker.downloads.naming import part_of, target
from confrec.worker.downloads.runner import file_client

BASE_URL = "https://api.telnyx.test/v2"
API_KEY = "KEYsecret-0123456789"
FILES = "https://files.test/rec"
REC = "4f1e2a3b-0000-4000-8000-000000000001"
BODY = hashlib.shake_256(b"audio").digest(1000)
WANTED = Wanted("job-1", REC, "conf/weekly #1", "wav")


class Host:
    """The recording's API entry and its file host: link N is ``…?X-Amz-Signature=N``;
    ``dead`` links answer 403, ``short`` answers send only part of what they announce."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.links = 0
        self.dead: set[int] = set()
        self.short: int | None = None
        self.ranges: list[str | None] = []
        self.api = router.get(f"{BASE_URL}/recordings/{REC}").mock(side_effect=self._recording)
        self.files = router.get(url__regex=rf"^{FILES}/").mock(side_effect=self._file)

    def _recording(self, request: httpx.Request) -> httpx.Response:
        self.links += 1
        url = f"{FILES}/{REC}.wav?X-Amz-Expires=600&X-Amz-Signature={self.links}"
        data = {"id": REC, "conference_id": "c-1", "download_urls": {"wav": url}}
        return httpx.Response(200, json={"data": data})

    def _file(self, request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers  # the key never goes to the file host
        link = int(request.url.params["X-Amz-Signature"])
        wanted = request.headers.get("range")
        self.ranges.append(wanted)
        if link in self.dead:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        asked = re.fullmatch(r"bytes=(\d+)-\d*", wanted or "")
        start = int(asked.group(1)) if asked else 0
        end = len(BODY) - 1 if wanted != "bytes=0-0" else 0
        if start >= len(BODY):
            return httpx.Response(416, headers={"Content-Range": f"bytes */{len(BODY)}"})
        chunk = BODY[start : end + 1]
        headers = {"Content-Length": str(len(chunk))}
        if wanted:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(BODY)}"
        sent = chunk[: self.short] if self.short is not None else chunk
        return httpx.Response(206 if wanted else 200, headers=headers, content=sent)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False, using="httpx") as mock:
        yield mock


@pytest.fixture
def host(router: respx.MockRouter) -> Host:
    return Host(router)


@pytest.fixture
def fetcher(tmp_path: Path) -> Iterator[Fetcher]:
    api = TelnyxApi(BASE_URL, SecretStr(API_KEY), timeout=4.0, connect_timeout=1.5)
    http = file_client(2, timeout=4.0, connect_timeout=1.5)
    yield Fetcher(http, FreshLinks(api, sleep=lambda s: None), tmp_path, sleep=lambda s: None)
    http.close()
    api.close()


def final(tmp_path: Path) -> Path:
    return target(tmp_path, WANTED.folder, REC, "wav")


def fetch(fetcher: Fetcher) -> Saved:
    return fetcher.fetch(WANTED, lambda done, total: None)


def test_a_recording_is_saved_under_its_stable_name(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    saved = fetch(fetcher)
    assert saved == Saved(tmp_path / "conf%2Fweekly%20%231" / f"{REC}.wav", 1000, skipped=False)
    assert saved.path.read_bytes() == BODY
    assert not part_of(saved.path).exists()
    assert host.links == 1 and host.ranges == [None]


def test_a_part_left_by_an_earlier_run_is_resumed_with_range(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    part = part_of(final(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY[:400])
    fetch(fetcher)
    assert host.ranges == ["bytes=400-"]
    assert final(tmp_path).read_bytes() == BODY and not part.exists()


def test_an_expired_link_mid_download_gets_a_fresh_one_and_goes_on(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    host.short = 300  # the first answer stops after 300 bytes …
    progress: list[tuple[int, int]] = []
    calls = iter(range(100))

    def on_bytes(done: int, total: int) -> None:
        progress.append((done, total))
        if next(calls) == 1:  # … and by then link 1 has expired
            host.dead.add(1)
            host.short = None

    fetcher.fetch(WANTED, on_bytes)
    assert host.links == 2
    assert host.ranges == [None, "bytes=300-", "bytes=300-"]  # link 1: 403; link 2: the rest
    assert final(tmp_path).read_bytes() == BODY
    assert progress[-1] == (1000, 1000)


def test_a_short_body_is_never_saved(fetcher: Fetcher, host: Host, tmp_path: Path) -> None:
    host.short = 0
    with pytest.raises(DownloadError, match=r"short body: 0 of 1000 bytes \(3 tries in a row\)"):
        fetch(fetcher)
    assert not final(tmp_path).exists()


def test_a_body_cut_off_keeps_its_part_to_resume_and_never_the_final_name(
    fetcher: Fetcher, router: respx.MockRouter, host: Host, tmp_path: Path
) -> None:
    class CutOff(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield BODY[:250]
            raise httpx.ReadError("connection reset")

    router.get(url__regex=rf"^{FILES}/").mock(
        side_effect=lambda r: httpx.Response(
            200, headers={"Content-Length": "1000"}, stream=CutOff()
        )
    )
    with pytest.raises(DownloadError) as raised:
        fetch(fetcher)
    message = str(raised.value)
    assert "download interrupted: ReadError: connection reset" in message
    assert f"250 bytes kept in .{REC}.wav.part to resume" in message
    assert "X-Amz" not in message and "files.test" not in message
    assert not final(tmp_path).exists()
    assert part_of(final(tmp_path)).read_bytes() == BODY[:250]


def test_a_host_that_ignores_the_range_starts_the_part_over(
    fetcher: Fetcher, router: respx.MockRouter, host: Host, tmp_path: Path
) -> None:
    part = part_of(final(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 600)
    router.get(url__regex=rf"^{FILES}/").mock(return_value=httpx.Response(200, content=BODY))
    fetch(fetcher)
    assert final(tmp_path).read_bytes() == BODY


def test_a_complete_part_is_finished_on_416(fetcher: Fetcher, host: Host, tmp_path: Path) -> None:
    part = part_of(final(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY)
    fetch(fetcher)
    assert host.ranges == ["bytes=1000-"]
    assert final(tmp_path).read_bytes() == BODY


def test_a_file_already_there_at_its_size_is_skipped(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    final(tmp_path).parent.mkdir(parents=True)
    final(tmp_path).write_bytes(BODY)
    assert fetch(fetcher).skipped
    assert host.ranges == ["bytes=0-0"]  # its size asked, nothing downloaded


def test_a_file_there_at_another_size_is_replaced(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    final(tmp_path).parent.mkdir(parents=True)
    final(tmp_path).write_bytes(BODY[:10])
    assert not fetch(fetcher).skipped
    assert final(tmp_path).read_bytes() == BODY


def test_links_refused_at_once_end_the_file_bounded(
    fetcher: Fetcher, host: Host, tmp_path: Path
) -> None:
    host.dead = set(range(100))
    with pytest.raises(DownloadError, match=r"refused the link \(403\) after 3 from Telnyx"):
        fetch(fetcher)
    assert not final(tmp_path).exists()


def test_no_content_length_is_not_saved(
    fetcher: Fetcher, router: respx.MockRouter, host: Host, tmp_path: Path
) -> None:
    class Unsized(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield BODY

    router.get(url__regex=rf"^{FILES}/").mock(
        side_effect=lambda r: httpx.Response(200, stream=Unsized())
    )
    with pytest.raises(DownloadError, match="no Content-Length"):
        fetch(fetcher)
    assert not final(tmp_path).exists()


def test_a_recording_telnyx_does_not_know_is_one_line(
    fetcher: Fetcher, router: respx.MockRouter
) -> None:
    router.get(f"{BASE_URL}/recordings/{REC}").mock(return_value=httpx.Response(404))
    with pytest.raises(DownloadError, match=rf"^Telnyx has no recording {REC} \(404\)$"):
        fetch(fetcher)


def test_a_429_from_telnyx_is_waited_out_as_it_says(
    tmp_path: Path, router: respx.MockRouter, host: Host
) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])
    router.get(f"{BASE_URL}/recordings/{REC}").mock(
        side_effect=lambda request: next(answers, None) or host._recording(request)
    )
    waits: list[float] = []
    api = TelnyxApi(BASE_URL, SecretStr(API_KEY), timeout=4.0, connect_timeout=1.5)
    with file_client(1, timeout=4.0, connect_timeout=1.5) as http:
        fetcher = Fetcher(http, FreshLinks(api, sleep=waits.append), tmp_path)
        fetch(fetcher)
    assert waits == [7.0]


def test_two_runs_never_write_one_part(fetcher: Fetcher, host: Host, tmp_path: Path) -> None:
    import fcntl

    part = part_of(final(tmp_path))
    part.parent.mkdir(parents=True)
    with open(part, "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another download is writing"):
            fetch(fetcher)
    assert not final(tmp_path).exists()


def test_a_file_past_its_deadline_is_given_up(host: Host, tmp_path: Path) -> None:
    api = TelnyxApi(BASE_URL, SecretStr(API_KEY), timeout=4.0, connect_timeout=1.5)
    host.short = 0
    with file_client(1, timeout=4.0, connect_timeout=1.5) as http:
        slow = Fetcher(http, FreshLinks(api), tmp_path, Bounds(file_timeout_s=0.3, stalls=99))
        with pytest.raises(DownloadError, match=r"not done within 0\.3s"):
            fetch(slow)
    assert not final(tmp_path).exists()
