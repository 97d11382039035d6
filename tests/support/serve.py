"""Driving ``confrec serve`` in the system tests: its processes, an HTTP client that keeps
every body for the secrets check, and the tokens and secrets they use."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from confrec.tasks.store import keys
from confrec.worker.local.processes import (
    ManagedProcess,
    start_serve,
    stop_all,
)
from tests.support.system import API_KEY, FAST_RETRIES, System
from tests.support.waiting import poll

TOKEN_A = f"tokA-{uuid.uuid4().hex}"
TOKEN_B = f"tokB-{uuid.uuid4().hex}"
WRONG_TOKEN = f"wrong-{uuid.uuid4().hex}"
#: A named operator token (``ops+operator:``): it sees every job, the CLI's too.
OPERATOR_TOKEN = f"tokOps-{uuid.uuid4().hex}"
#: Given to every serve (which never needs it) to prove it never echoes it.
SERVE_TELNYX_KEY = f"KEYserve-{uuid.uuid4().hex}"
SECRETS = (TOKEN_A, TOKEN_B, WRONG_TOKEN, OPERATOR_TOKEN, SERVE_TELNYX_KEY)

#: Every serve started and every response body read, for the secrets checks.
SERVES: list[ManagedProcess] = []
BODIES: list[bytes] = []

JSON = {"Content-Type": "application/json"}
GOOD = {"conference_id": "conf-good", "format": "wav"}


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Api:
    """An HTTP client of one serve; every response body is kept for the secrets check."""

    root: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = TOKEN_A,
        body: object = None,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            content = dumps(body)
            sent.setdefault("Content-Type", "application/json")
        response = self.http.request(method, self.root + path, content=content, headers=sent)
        BODIES.append(response.content)
        return response

    def status(self, job_id: str, token: str = TOKEN_A) -> dict[str, Any]:
        response = self.send("GET", f"/v1/jobs/{job_id}", token=token)
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        return doc

    def enqueue(self, job: Mapping[str, object]) -> dict[str, str]:
        response = self.send("POST", "/v1/jobs", body=job)
        assert response.status_code == 202, response.text
        accepted: dict[str, str] = response.json()
        return accepted

    def finished(self, job_id: str, timeout: float = 30, token: str = TOKEN_A) -> dict[str, Any]:
        return poll(
            lambda: self.status(job_id, token),
            lambda doc: doc["state"] == "finished",
            timeout,
            f"job {job_id} finished",
        )


@dataclass
class Stack:
    """A serve and a System on the same queue and streams (workers run through it)."""

    system: System
    serve: ManagedProcess
    api: Api

    @property
    def queue(self) -> str:
        return self.system.env["CONFREC_QUEUE"]

    @property
    def recordings_stream(self) -> str:
        return self.system.env["CONFREC_RECORDINGS_STREAM"]

    def queue_length(self) -> int:
        return int(self.system.client.llen(self.queue))

    def ledger_keys(self) -> int:
        """How many jobs the ledger knows (every stack shares one Redis, so compare)."""
        return sum(1 for _ in self.system.state.scan_iter(match=keys.job_state("*"), count=1000))


@contextlib.contextmanager
def running_stack(
    workdir: Path, redis_url: str, sim: ManagedProcess, *, port: int | None = None, **extra: str
) -> Iterator[Stack]:
    """A serve (``extra`` added to its env) on fresh names; stopped, with its workers, after."""
    tag = uuid.uuid4().hex[:8]
    names = {
        "CONFREC_BROKER_URL": redis_url,
        "CONFREC_QUEUE": f"serve-queue-{tag}",
        "CONFREC_RESULTS_STREAM": f"serve-results-{tag}",
        "CONFREC_RECORDINGS_STREAM": f"serve-recordings-{tag}",
    }
    serve_env = {
        **names,
        "CONFREC_API_TOKENS": f"{TOKEN_A},{TOKEN_B},ops+operator:{OPERATOR_TOKEN}",
        "TELNYX_API_KEY": SERVE_TELNYX_KEY,
        **extra,
    }
    worker_env = {
        **names,
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_BASE_URL": sim.extra["base_url"],
        **FAST_RETRIES,
    }
    system = System(workdir / f"serve-{tag}", redis_url, sim.extra["root"], worker_env)
    serve = start_serve(system.workdir, serve_env, port=port)
    SERVES.append(serve)
    api = Api(serve.extra["root"])
    try:
        yield Stack(system, serve, api)
    finally:
        api.http.close()
        stop_all([*system.workers, serve])


def telnyx_errors(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The errors of a response that must be ``status``, checked to be Telnyx-shaped."""
    assert response.status_code == status, response.text
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert errors
    for err in errors:
        assert all(isinstance(err.get(k), str) and err[k] for k in ("code", "title", "detail"))
    return errors


def counters(api: Api, name: str) -> Counter[tuple[str, ...]]:
    """A counter's samples from /metrics, keyed by its label values in label-name order."""
    text = api.send("GET", "/metrics", token=None).text
    found: Counter[tuple[str, ...]] = Counter()
    for match in re.finditer(rf"^{name}(\{{(?P<labels>.*)\}})? (?P<value>\S+)$", text, re.M):
        labels = sorted(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        found[tuple(value for _, value in labels)] = int(float(match["value"]))
    return found


def assert_no_secret_anywhere() -> None:
    """No token, wrong token or API key in any serve's log or any response body so far."""
    assert SERVES and BODIES
    for serve in SERVES:
        log = serve.log()
        assert "confrec serve: broker" in log  # the log is the one the serve wrote
        for secret in SECRETS:
            assert secret not in log, f"{serve.name} logged a secret"
    for body in BODIES:
        for secret in SECRETS:
            assert secret.encode() not in body
