"""Downloads against the simulator's own file host (in a thread, our clock moved by hand):
its presigned links really expire (403, S3's XML), ranges are served as S3 serves them,
and ``GET /v2/recordings/{id}`` gives a fresh link — so a link that dies between Telnyx's
answer and the download is replaced, and a ``.part`` is resumed from where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from confrec.simulator.files import audio_bytes
from confrec.tasks.telnyx_api import TelnyxApi
from confrec.worker.downloads.fetch import Fetcher, Wanted
from confrec.worker.downloads.links import FreshLinks
from confrec.worker.downloads.naming import part_of, target
from confrec.worker.downloads.runner import file_client
from tests.support.sim_webhooks import simulator
from tests.support.simulator import FakeClock, start

SIZE = 300_000


class ExpiresOnArrival:
    """Telnyx's API, with our clock moved past the link's life right after the first
    answer: the first link is dead before the file host sees it."""

    def __init__(self, api: TelnyxApi, clock: FakeClock) -> None:
        self.api, self.clock, self.calls = api, clock, 0

    def get_recording(self, recording_id: str) -> dict[str, Any]:
        data = self.api.get_recording(recording_id)
        self.calls += 1
        if self.calls == 1:
            self.clock.advance(61)
        return data


@pytest.fixture
def sim() -> Iterator[tuple[httpx.Client, FakeClock, str]]:
    """A simulator whose one saved recording (wav) is ``SIZE`` bytes; links live 60 s."""
    clock = FakeClock()
    with simulator(recording_seconds=0, clock=clock, link_expires_s=60, recording_bytes=SIZE) as c:
        assert start(c, "room").status_code == 200
        (item,) = c.get("/v2/recordings").json()["data"]
        yield c, clock, item["id"]


def api_of(c: httpx.Client) -> TelnyxApi:
    return TelnyxApi(f"{str(c.base_url).rstrip('/')}/v2", SecretStr("k"), timeout=5.0)


def test_a_link_dead_on_arrival_is_replaced_by_a_fresh_one(
    sim: tuple[httpx.Client, FakeClock, str], tmp_path: Path
) -> None:
    c, clock, recording_id = sim
    api = ExpiresOnArrival(api_of(c), clock)
    with file_client(1, timeout=5.0, connect_timeout=2.0) as http:
        fetcher = Fetcher(http, FreshLinks(api), tmp_path)
        saved = fetcher.fetch(Wanted("j", recording_id, "room", "wav"), lambda d, t: None)
    assert api.calls == 2
    assert saved.path == target(tmp_path, "room", recording_id, "wav")
    assert saved.path.read_bytes() == audio_bytes(recording_id, "wav", SIZE)


def test_a_part_is_resumed_from_the_simulators_ranges(
    sim: tuple[httpx.Client, FakeClock, str], tmp_path: Path
) -> None:
    c, _, recording_id = sim
    body = audio_bytes(recording_id, "wav", SIZE)
    final = target(tmp_path, "room", recording_id, "wav")
    final.parent.mkdir(parents=True)
    part_of(final).write_bytes(body[:123_456])
    starts: list[int] = []
    with file_client(1, timeout=5.0, connect_timeout=2.0) as http:
        fetcher = Fetcher(http, FreshLinks(api_of(c)), tmp_path)
        fetcher.fetch(Wanted("j", recording_id, "room", "wav"), lambda d, t: starts.append(d))
    assert starts[0] == 123_456  # the first bytes reported: where the part ended
    assert final.read_bytes() == body and not part_of(final).exists()
