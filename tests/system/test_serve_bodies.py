"""``confrec serve``'s JSON bodies, on a real serve on loopback: deep nesting and huge
numbers are a 400 with a pointer on every JSON endpoint (the webhook after its signature
is verified), never a 500; ``play_beep`` is a JSON boolean; and a 31 MiB bulk of empty
objects is refused at its 10,001st item, before the rest is read, without serve's memory
growing by 100 MiB (before: +830 MiB, the whole array parsed first). Nothing is enqueued.
"""

from __future__ import annotations

import base64
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from nacl.signing import SigningKey

from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import GOOD, JSON, TOKEN_A, Stack, dumps, running_stack, telnyx_errors

KEY = SigningKey.generate()
DEEP = b"[" * 16_000
HUGE = b"1" + b"0" * 5_000
GOOD_FIELDS = dumps(GOOD)[1:-1]  # "conference_id": ..., "format": ...
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def stack(own_redis_url: str, simulator: ManagedProcess, workdir: Path) -> Iterator[Stack]:
    """A serve that verifies webhooks with ``KEY``; no worker consumes its queue."""
    public = base64.b64encode(bytes(KEY.verify_key)).decode()
    with running_stack(workdir, own_redis_url, simulator, TELNYX_PUBLIC_KEY=public) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "content", "status", "where"),
    [
        pytest.param("/v1/jobs", DEEP, 400, "/0" * 32, id="deep"),
        pytest.param("/v1/jobs/bulk", DEEP, 400, "/0" * 32, id="bulk-deep"),
        pytest.param(
            "/v1/jobs",
            b'{%s, "play_beep": %s}' % (GOOD_FIELDS, HUGE),
            400,
            "/play_beep",
            id="huge-number",
        ),
        pytest.param(
            "/v1/jobs/bulk",
            b'[{%s, "play_beep": %s}]' % (GOOD_FIELDS, HUGE),
            400,
            "/0/play_beep",
            id="bulk-huge-number",
        ),
        pytest.param("/v1/jobs", dumps({**GOOD, "play_beep": 0}), 422, "/play_beep", id="zero"),
        pytest.param(
            "/v1/jobs/bulk",
            dumps([GOOD, {**GOOD, "play_beep": "yes"}]),
            422,
            "/1/play_beep",
            id="bulk-yes",
        ),
        pytest.param(
            "/v1/jobs", b'{"conference_id": "\\ud800", "format": "wav"}', 400, "", id="surrogate"
        ),
    ],
)
def test_hostile_json_is_refused_with_a_pointer_and_nothing_enqueued(
    stack: Stack, path: str, content: bytes, status: int, where: str
) -> None:
    errors = telnyx_errors(stack.api.send("POST", path, content=content, headers=JSON), status)
    assert [e["source"]["pointer"] for e in errors] == [where]
    assert stack.queue_length() == 0


@pytest.mark.parametrize("content", [DEEP, HUGE], ids=["deep", "huge-number"])
def test_a_verified_webhook_that_is_hostile_json_is_a_400(stack: Stack, content: bytes) -> None:
    stamp = str(int(time.time()))
    signature = KEY.sign(stamp.encode() + b"|" + content).signature
    headers = {
        "telnyx-timestamp": stamp,
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        **JSON,
    }
    answer = stack.api.send(
        "POST", "/webhooks/telnyx", token=None, content=content, headers=headers
    )
    telnyx_errors(answer, 400)


def test_a_31_mib_bulk_of_empty_objects_is_a_413_before_it_is_read(stack: Stack) -> None:
    """The body is sent as fast as serve takes it; serve answers at the 10,001st item and
    stops reading, its peak memory (every process of its tree) well under 100 MiB more."""
    body = b"[" + b"{}," * (31 * MIB // 3) + b"{}]"
    before = _tree_kib(stack.serve.pid, "VmRSS")
    status, sent = _post_while_sending(stack.serve.extra["root"], "/v1/jobs/bulk", body)
    grown_mib = (_tree_kib(stack.serve.pid, "VmHWM") - before) / 1024
    assert status == 413
    assert sent < len(body) // 2, f"serve read {sent} of {len(body)} bytes first"
    assert grown_mib < 100, f"serve's peak memory grew by {grown_mib:.0f} MiB"
    assert stack.queue_length() == 0


def _post_while_sending(root: str, path: str, body: bytes) -> tuple[int, int]:
    """POST ``body`` on a raw socket, reading while sending: the answer's status, and how
    many body bytes had been sent when it came (serve may close without reading more)."""
    url = urlsplit(root)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {TOKEN_A}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sent, answer = 0, b""
    deadline = time.monotonic() + 30
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while b"\r\n" not in answer and time.monotonic() < deadline:
                for _, events in selector.select(timeout=1):
                    if events & selectors.EVENT_READ:
                        answer += sock.recv(65536) or b"\r\n"  # closed: no status
                    elif sent < len(body):
                        try:
                            sent += sock.send(body[sent : sent + 65536])
                        except (BrokenPipeError, ConnectionResetError):
                            selector.modify(sock, selectors.EVENT_READ)
                    else:
                        selector.modify(sock, selectors.EVENT_READ)
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b"0"
    return int(status), sent


def _tree_kib(pid: int, field: str) -> int:
    """``field`` of /proc/PID/status summed over the process and its descendants."""
    total, todo = 0, [pid]
    while todo:
        one = todo.pop()
        try:
            status = Path(f"/proc/{one}/status").read_text()
            children = Path(f"/proc/{one}/task/{one}/children").read_text().split()
        except OSError:  # gone since it was listed
            continue
        total += int(status.split(f"{field}:", 1)[1].split()[0])
        todo += [int(child) for child in children]
    return total
