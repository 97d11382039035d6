"""The total time bound of one HTTP attempt (DeadlineTransport), on a real loopback socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from confrec.tasks.job import RecordStartJob
from confrec.tasks.telnyx import TelnyxClient

#: A whole, valid answer, sent one byte at a time: each byte well inside the per-read
#: timeout, the whole far beyond the attempt's total bound.
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
BYTE_GAP_S = 0.05


@pytest.fixture
def dripping_server() -> Iterator[str]:
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            for byte in ANSWER:
                if stop.wait(BYTE_GAP_S):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    thread.join(5)


def test_an_answer_dripping_byte_by_byte_ends_the_attempt_at_its_total_bound(
    dripping_server: str,
) -> None:
    client = TelnyxClient(dripping_server, SecretStr("KEY"), timeout=0.5, connect_timeout=0.5)
    job = RecordStartJob(conference_id="c", format="wav")
    with pytest.raises(httpx.TimeoutException):
        client.record_start(job, "cmd")
    client.close()


def test_the_same_answer_sent_at_once_is_read() -> None:
    """Control: the transport reads a normal answer within the bound."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(ANSWER)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = TelnyxClient(url, SecretStr("KEY"), timeout=2, connect_timeout=1)
    assert client.record_start(RecordStartJob(conference_id="c", format="wav"), "x").json() == {}
    client.close()
    thread.join(5)
    listener.close()
