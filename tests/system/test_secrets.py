"""The API key and broker passwords stay out of Redis, logs and outcomes; pickle is refused."""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import cast

import kombu
import pytest
import redis

from confrec.worker.local.processes import start_redis
from tests.support.system import API_KEY, BROKERS, System, unique


def raw(value: bytes | str) -> bytes:
    """A reply of a client without ``decode_responses``: bytes (redis-py types it bytes | str)."""
    return value if isinstance(value, bytes) else value.encode()


def every_redis_byte(client: redis.Redis) -> bytes:
    """Every key and value in the server, whatever its type, as one blob to search."""
    chunks: list[bytes] = []
    for db in range(16):
        conn = client.connection_pool.connection_kwargs
        node = redis.Redis(
            host=conn["host"], port=conn["port"], db=db, password=conn.get("password")
        )
        for key in node.scan_iter(count=1000):
            chunks.append(key)
            kind = raw(node.type(key)).decode()
            if kind == "string":
                chunks.append(raw(node.get(key) or b""))
            elif kind == "hash":
                chunks.extend(raw(k) + raw(v) for k, v in node.hgetall(key).items())
            elif kind == "list":
                chunks.extend(raw(v) for v in node.lrange(key, 0, -1))
            elif kind in ("set", "zset"):
                members = (
                    node.smembers(key)
                    if kind == "set"
                    # no WITHSCORES: the reply is the members alone
                    else cast("list[bytes | str]", node.zrange(key, 0, -1))
                )
                chunks.extend(raw(m) for m in members)
            elif kind == "stream":
                entries = node.xrange(key)
                assert entries is not None
                chunks.extend(str(entry).encode() for entry in entries)
    return b"\n".join(chunks)


def every_log_byte(root: Path) -> bytes:
    return b"\n".join(path.read_bytes() for path in root.rglob("*.log"))


def test_the_api_key_appears_in_no_redis_value_log_or_outcome(
    system: System, workdir: Path
) -> None:
    job_ids = system.enqueue([unique(), unique("flaky-1-"), unique("missing-"), unique("drop-1-")])
    job_ids.append(
        system.app.send_task(
            "confrec.record_start", kwargs={"conference_id": "x", "format": "ogg"}
        ).id
    )
    outcomes = system.outcomes(job_ids)
    assert len(outcomes) == 5

    secret = API_KEY.encode()
    assert secret not in every_redis_byte(system.client)
    assert secret not in every_log_byte(workdir)
    assert all(secret not in o[0].to_json().encode() for o in outcomes.values())


def test_a_wrong_key_is_rejected_by_telnyx_and_not_echoed(isolated: Callable[..., System]) -> None:
    wrong = "KEYwrong-" + uuid.uuid4().hex
    system = isolated(TELNYX_API_KEY=wrong)
    system.start_worker("wrongkey", concurrency=2)
    (job_id,) = system.enqueue([unique()])
    outcome = system.outcome(job_id)
    assert (outcome.reason, outcome.http_status, outcome.errors[0].code) == (
        "rejected",
        401,
        "10009",
    )
    assert wrong.encode() not in every_redis_byte(system.client)
    assert wrong.encode() not in every_log_byte(system.workdir)


def test_broker_password_is_masked_in_worker_logs(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    password = "pw-" + uuid.uuid4().hex
    redis_proc = start_redis(tmp_path, password=password)
    try:
        system = isolated(redis_url=redis_proc.extra["url"])
        worker = system.start_worker("masked", concurrency=2)
        system.outcomes(system.enqueue([unique()]))
        log = worker.log()
        assert "ReliableTransport://:**@127.0.0.1" in log  # the banner names our transport
        assert password not in log
    finally:
        redis_proc.stop()


class _Exploit:
    """Unpickling this runs a shell command: proof of whether a worker unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("broker", BROKERS)
def test_a_pickle_message_is_refused_and_the_worker_carries_on(
    isolated: Callable[..., System], tmp_path: Path, broker: str
) -> None:
    system = isolated(broker=broker)
    worker = system.start_worker("strict", concurrency=2)
    marker = tmp_path / "unpickled"
    pickled = str(uuid.uuid4())
    with kombu.Connection(system.broker_url) as conn:
        conn.Producer().publish(
            pickle.dumps(_Exploit(marker)),
            routing_key=system.settings.queue,
            content_type="application/x-python-serialize",
            content_encoding="binary",
            headers={"task": "confrec.record_start", "id": pickled, "lang": "py"},
        )
    (job_id,) = system.enqueue([unique()])
    assert system.outcome(job_id).status == "succeeded"  # processed after the pickle one
    assert worker.alive()
    assert not marker.exists()
    refused = system.outcome(pickled)  # its one outcome, never decoded
    assert (refused.reason, refused.errors[0].title) == ("invalid", "message")
    assert "content type" in str(refused.errors[0].detail)
    assert system.deliveries()["queued"] == 0  # acked, not redelivered forever
