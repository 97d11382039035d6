"""What a real ``confrec worker`` says when it starts."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.support.system import API_KEY, System


def test_a_worker_logs_the_telnyx_base_url_it_sends_to(isolated: Callable[..., System]) -> None:
    system = isolated()
    base_url = system.env["TELNYX_BASE_URL"]
    worker = system.start_worker(f"url{uuid.uuid4().hex[:6]}", concurrency=1)
    try:
        log = worker.log()
    finally:
        worker.stop()
    lines = [line for line in log.splitlines() if "sending to Telnyx at" in line]
    assert lines, log  # once per worker process (one per CPU)
    assert all(line.rstrip().endswith(f"sending to Telnyx at {base_url}") for line in lines)
    assert all("INFO" in line for line in lines)
    assert API_KEY not in log
