"""Recording files behind the simulator's presigned links: served with Content-Length and
Range, refused (403, S3's XML) once expired on Telnyx's clock or when the signature is not
the simulator's; a fresh ``GET /v2/recordings/{id}`` gives a fresh link.  Real server on
loopback, our clock a hand-moved one."""

from __future__ import annotations

import struct
from urllib.parse import parse_qs, urlsplit

import httpx

from confrec.simulator.files import audio_bytes
from tests.support.sim_webhooks import simulator
from tests.support.simulator import FakeClock, start


def link(c: httpx.Client, recording_id: str, fmt: str = "wav") -> str:
    url: str = c.get(f"/v2/recordings/{recording_id}").json()["data"]["download_urls"][fmt]
    return url


def test_audio_bytes_are_a_wav_of_the_size_asked() -> None:
    wav = audio_bytes("r1", "wav", 1000)
    assert len(wav) == 1000 and wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", wav[40:44])[0] == 1000 - 44
    assert audio_bytes("r1", "wav", 1000) == wav != audio_bytes("r2", "wav", 1000)
    assert audio_bytes("r1", "mp3", 10)[:3] == b"ID3" and len(audio_bytes("r1", "wav", 5)) == 5


def test_links_serve_ranges_then_expire_and_fresh_links_work() -> None:
    clock = FakeClock()
    with simulator(recording_seconds=0, clock=clock, link_expires_s=60, recording_bytes=1000) as c:
        assert start(c, "room").status_code == 200
        (item,) = c.get("/v2/recordings").json()["data"]
        url = item["download_urls"]["wav"]
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == str(c.base_url).rstrip("/")
        assert parts.path == f"/_sim/files/{item['id']}.wav"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "60"
        whole = httpx.get(url)
        assert whole.status_code == 200 and len(whole.content) == 1000
        assert whole.headers["content-length"] == "1000"
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-type"] == "audio/wav"
        assert whole.content == audio_bytes(item["id"], "wav", 1000)
        part = httpx.get(url, headers={"Range": "bytes=10-19"})
        assert (part.status_code, part.headers["content-range"]) == (206, "bytes 10-19/1000")
        assert part.content == whole.content[10:20]
        tail = httpx.get(url, headers={"Range": "bytes=990-"})
        assert tail.status_code == 206 and tail.content == whole.content[990:]
        assert httpx.get(url, headers={"Range": "bytes=-5"}).content == whole.content[-5:]
        assert httpx.get(url, headers={"Range": "bytes=1000-"}).status_code == 416
        forged = url.replace(query["X-Amz-Signature"], "0" * 64)
        denied = httpx.get(forged)
        assert denied.status_code == 403 and b"<Code>AccessDenied</Code>" in denied.content
        longer = url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
        assert httpx.get(longer).status_code == 403  # the expiry is signed too
        clock.advance(61)
        expired = httpx.get(url)
        assert expired.status_code == 403
        assert expired.headers["content-type"].startswith("application/xml")
        assert b"<Code>AccessDenied</Code><Message>Request has expired" in expired.content
        fresh = link(c, item["id"])
        assert fresh != url and "X-Amz-Date=" in fresh
        assert httpx.get(fresh).content == whole.content
        public = c.get("/_sim/conferences").json()[0]["recordings"][0]["id"]
        assert (
            httpx.get(f"{str(c.base_url).rstrip('/')}/_sim/files/public/{public}.wav").status_code
            == 200
        )
        assert (
            httpx.get(f"{str(c.base_url).rstrip('/')}/_sim/files/public/{public}.mp3").status_code
            == 404
        )


def test_public_url_option_roots_the_links() -> None:
    with simulator(recording_seconds=0, public_url="https://sim.example:8443/") as c:
        assert start(c, "room", format="mp3").status_code == 200
        (item,) = c.get("/v2/recordings").json()["data"]
    assert item["download_urls"]["mp3"].startswith(
        f"https://sim.example:8443/_sim/files/{item['id']}.mp3?"
    )
