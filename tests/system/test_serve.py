"""``confrec serve`` as its clients use it: a real service process on loopback, real workers
where a job must run, curl as the non-Python client.

Every serve gets its own queue and streams, so counts are exact; the module's shared serve
sits on a queue no worker consumes, so what a request enqueued is what the queue holds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.tasks.job import RecordStartJob, derived_command_id
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    free_port,
    start_redis,
)
from tests.support.serve import (
    BODIES,
    GOOD,
    JSON,
    TOKEN_A,
    TOKEN_B,
    WRONG_TOKEN,
    Stack,
    assert_no_secret_anywhere,
    counters,
    dumps,
    running_stack,
    telnyx_errors,
)
from tests.support.system import unique
from tests.support.waiting import poll


@pytest.fixture(scope="module")
def stack(redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path) -> Iterator[Stack]:
    """The module's serve; no TELNYX_PUBLIC_KEY, and no worker consumes its queue."""
    with running_stack(workdir, redis_proc.extra["url"], simulator) as running:
        yield running


@pytest.fixture
def idle(stack: Stack) -> Iterator[Stack]:
    """The module's serve with its queue empty when the test starts; emptied after it."""
    assert stack.queue_length() == 0
    yield stack
    stack.system.client.delete(stack.queue)


# 1. a non-Python client


def curl(url: str, *, body: object = None) -> tuple[int, Any]:
    argv = ["curl", "-sS", "--max-time", "10", "-w", "%{http_code}"]
    argv += ["-H", f"Authorization: Bearer {TOKEN_A}"]
    data = None
    if body is not None:
        data = dumps(body)
        argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    done = subprocess.run([*argv, url], input=data, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    BODIES.append(done.stdout[:-3])
    return int(done.stdout[-3:]), json.loads(done.stdout[:-3])


def curl_status(root: str, job_id: str) -> dict[str, Any]:
    code, doc = curl(f"{root}/v1/jobs/{job_id}")
    assert code == 200, doc
    found: dict[str, Any] = doc
    return found


def finished_via_curl(root: str, job_id: str) -> dict[str, Any]:
    return poll(
        lambda: curl_status(root, job_id),
        lambda doc: doc["state"] == "finished",
        30,
        f"job {job_id} finished",
    )


@pytest.fixture
def curl_stack(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path
) -> Iterator[Stack]:
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    with running_stack(workdir, redis_proc.extra["url"], simulator) as running:
        yield running


def test_curl_enqueues_follows_each_job_to_its_outcome(curl_stack: Stack) -> None:
    system, root = curl_stack.system, curl_stack.api.root
    code, one = curl(f"{root}/v1/jobs", body={"conference_id": unique(), "format": "mp3"})
    assert code == 202, one
    bulk = [{"conference_id": unique(), "format": fmt} for fmt in ("wav", "mp3", "wav")]
    key = f"batch-{uuid.uuid4().hex[:8]}"
    code, batch = curl(f"{root}/v1/jobs/bulk?batch_key={key}", body=bulk)
    assert code == 202, batch
    assert [j["conference_id"] for j in batch["jobs"]] == [b["conference_id"] for b in bulk]
    assert [j["command_id"] for j in batch["jobs"]] == [
        derived_command_id(key, RecordStartJob.model_validate(b)) for b in bulk
    ]
    accepted: list[dict[str, str]] = [one, *batch["jobs"]]
    job_ids = [a["job_id"] for a in accepted]
    assert len(set(job_ids)) == 4
    for job in accepted:  # no worker yet
        assert curl_status(root, job["job_id"]) == {
            **job,
            "state": "queued",
            "outcome": None,
            "recordings": [],
        }

    system.start_worker(f"curl-{uuid.uuid4().hex[:6]}", concurrency=4)
    for job in accepted:
        job_id = job["job_id"]
        doc = finished_via_curl(root, job_id)
        outcome = doc["outcome"]
        assert (outcome["status"], outcome["reason"]) == ("succeeded", "ok")
        assert (outcome["job_id"], outcome["command_id"]) == (job_id, job["command_id"])
        assert outcome.get("batch") == (None if job is one else batch["batch"])
        cli = system.cli("status", job_id, "--json")
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == doc

    unknown = system.cli("status", f"no-such-job-{uuid.uuid4().hex}", "--json")
    assert unknown.returncode == 5, unknown.stderr
    assert unknown.stdout == ""

    outcomes = system.outcomes(job_ids)
    assert {job_id: len(found) for job_id, found in outcomes.items()} == dict.fromkeys(job_ids, 1)
    rows: Any = system.state.xrange(system.settings.results_stream)
    assert sorted(fields["job_id"] for _, fields in rows) == sorted(job_ids)


# 2. nothing enqueued on error

OVERSIZED = {**GOOD, "custom_file_name": "n" * 17_000}


@pytest.mark.parametrize(
    ("path", "content", "status", "pointers"),
    [
        pytest.param("/v1/jobs", dumps({**GOOD, "format": "ogg"}), 422, ["/format"], id="format"),
        pytest.param("/v1/jobs", dumps({**GOOD, "colour": "red"}), 422, ["/colour"], id="unknown"),
        pytest.param("/v1/jobs", dumps({"format": "wav"}), 422, ["/conference_id"], id="missing"),
        pytest.param(
            "/v1/jobs/bulk",
            dumps([GOOD, GOOD, {**GOOD, "format": "ogg"}, GOOD]),
            422,
            ["/2/format"],
            id="bulk-bad-item",
        ),
        pytest.param(
            "/v1/jobs/bulk",
            dumps([GOOD, 5, {**GOOD, "format": "ogg"}, {"format": "mp3", "x": 1}]),
            422,
            ["/1", "/2/format", "/3/conference_id", "/3/x"],
            id="bulk-every-problem",
        ),
        pytest.param("/v1/jobs", b"{not json", 400, None, id="not-json"),
        pytest.param("/v1/jobs/bulk", b"[not json", 400, None, id="bulk-not-json"),
        pytest.param("/v1/jobs", dumps([GOOD]), 400, None, id="array-to-jobs"),
        pytest.param("/v1/jobs/bulk", dumps(GOOD), 400, None, id="object-to-bulk"),
        pytest.param("/v1/jobs/bulk", dumps([GOOD] * 10_001), 413, None, id="bulk-10001"),
        pytest.param("/v1/jobs", dumps(OVERSIZED), 413, None, id="oversized"),
    ],
)
def test_a_refused_request_enqueues_nothing(
    idle: Stack, path: str, content: bytes, status: int, pointers: list[str] | None
) -> None:
    before = idle.ledger_keys()
    errors = telnyx_errors(idle.api.send("POST", path, content=content, headers=JSON), status)
    if pointers is not None:  # one error per problem, each pointing at it
        assert sorted(e["source"]["pointer"] for e in errors) == pointers
    assert idle.queue_length() == 0
    assert idle.ledger_keys() == before


def test_an_oversized_body_without_content_length_is_refused(idle: Stack) -> None:
    before = idle.ledger_keys()
    raw = dumps(OVERSIZED)
    chunks = (raw[i : i + 1024] for i in range(0, len(raw), 1024))  # sent chunked
    telnyx_errors(idle.api.send("POST", "/v1/jobs", content=chunks, headers=JSON), 413)
    assert (idle.queue_length(), idle.ledger_keys()) == (0, before)


def test_accepted_requests_show_in_the_same_counts(idle: Stack) -> None:
    """Control for the tests above: the same counts see what a request did enqueue."""
    before = idle.ledger_keys()
    idle.api.enqueue(GOOD)
    assert (idle.queue_length(), idle.ledger_keys()) == (1, before + 1)
    accepted = idle.api.send("POST", "/v1/jobs/bulk", body=[GOOD, {**GOOD, "format": "mp3"}])
    assert accepted.status_code == 202, accepted.text
    assert (idle.queue_length(), idle.ledger_keys()) == (3, before + 3)


# 3. auth


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": f"Bearer {WRONG_TOKEN}"}, id="wrong"),
        pytest.param({"Authorization": f"Bearer {TOKEN_A[:-1]}"}, id="prefix"),
        pytest.param({"Authorization": f"Bearer {TOKEN_A},{TOKEN_B}"}, id="both-as-one"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-alone"),
        pytest.param({"Authorization": TOKEN_A}, id="no-scheme"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(f"u:{TOKEN_A}".encode()).decode()},
            id="basic",
        ),
    ],
)
def test_without_a_valid_bearer_token_every_v1_route_answers_401(
    idle: Stack, headers: dict[str, str]
) -> None:
    known = idle.api.enqueue(GOOD)["job_id"]
    before = idle.ledger_keys()
    for method, path, body in [
        ("POST", "/v1/jobs", GOOD),
        ("POST", "/v1/jobs/bulk", [GOOD]),
        ("GET", f"/v1/jobs/{known}", None),
    ]:
        response = idle.api.send(method, path, token=None, body=body, headers=headers)
        (err,) = telnyx_errors(response, 401)
        assert err["code"] == "10009"
        assert response.headers["www-authenticate"] == "Bearer"
    assert (idle.queue_length(), idle.ledger_keys()) == (1, before)


def test_each_of_the_comma_separated_tokens_is_accepted(idle: Stack) -> None:
    for token in (TOKEN_A, TOKEN_B):
        accepted = idle.api.send("POST", "/v1/jobs", token=token, body=GOOD)
        assert accepted.status_code == 202, accepted.text
        status = idle.api.send("GET", f"/v1/jobs/{accepted.json()['job_id']}", token=token)
        assert (status.status_code, status.json()["state"]) == (200, "queued")
    assert idle.queue_length() == 2
    (err,) = telnyx_errors(idle.api.send("GET", f"/v1/jobs/{uuid.uuid4()}"), 404)
    assert err["code"] == "10007"


def test_metrics_count_requests_by_route_template_and_code(idle: Stack) -> None:
    api = idle.api
    before = counters(api, "confrec_api_requests_total")
    enqueued = counters(api, "confrec_api_jobs_enqueued_total")[()]
    job_id = api.enqueue(GOOD)["job_id"]
    api.status(job_id)
    api.send("POST", "/v1/jobs", body={**GOOD, "format": "ogg"})
    api.send("POST", "/v1/jobs", token=WRONG_TOKEN, body=GOOD)
    unknown = f"unknown-{uuid.uuid4().hex}"
    api.send("GET", f"/v1/jobs/{unknown}")
    api.send("GET", "/openapi.json", token=None)
    assert counters(api, "confrec_api_requests_total") - before == Counter(
        {
            ("202", "/v1/jobs"): 1,
            ("422", "/v1/jobs"): 1,
            ("401", "/v1/jobs"): 1,
            ("200", "/v1/jobs/{job_id}"): 1,
            ("404", "/v1/jobs/{job_id}"): 1,
            ("200", "/openapi.json"): 1,
            ("200", "/metrics"): 2,  # the two reads above
        }
    )
    assert counters(api, "confrec_api_jobs_enqueued_total")[()] == enqueued + 1
    text = api.send("GET", "/metrics", token=None).text
    assert job_id not in text and unknown not in text  # labels are templates, never ids


def run_serve_alone(redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``confrec serve`` with only these settings; a serve that starts is killed at 30 s."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("CONFREC_API_TOKENS", "TELNYX_PUBLIC_KEY")
    }
    return subprocess.run(
        [*CONFREC, "serve", "--port", str(free_port())],
        env={**base, "CONFREC_BROKER_URL": redis_url, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_refuses_to_start_without_tokens(redis_proc: ManagedProcess) -> None:
    done = run_serve_alone(redis_proc.extra["url"])
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "CONFREC_API_TOKENS" in line


@pytest.mark.parametrize(
    "public_key", ["not-a-key", base64.b64encode(b"k" * 31).decode()], ids=["text", "31-bytes"]
)
def test_serve_refuses_a_public_key_that_is_not_one(
    redis_proc: ManagedProcess, public_key: str
) -> None:
    done = run_serve_alone(
        redis_proc.extra["url"], CONFREC_API_TOKENS=TOKEN_A, TELNYX_PUBLIC_KEY=public_key
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "TELNYX_PUBLIC_KEY" in line


def test_webhooks_answer_503_without_a_public_key(stack: Stack) -> None:
    body = dumps({"data": {"id": str(uuid.uuid4()), "event_type": "conference.recording.saved"}})
    headers = {**JSON, "telnyx-timestamp": str(int(time.time())), "telnyx-signature-ed25519": "x"}
    response = stack.api.send("POST", "/webhooks/telnyx", token=None, content=body, headers=headers)
    (err,) = telnyx_errors(response, 503)
    assert "TELNYX_PUBLIC_KEY" in err["detail"]
    assert stack.system.state.xlen(stack.recordings_stream) == 0


# 5. health


def test_healthz_follows_redis_and_never_shows_its_password(
    simulator: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    own_redis = start_redis(tmp_path / "redis", password=password)
    try:
        with running_stack(workdir, own_redis.extra["url"], simulator) as running:
            api = running.api
            healthy = api.send("GET", "/healthz", token=None)
            assert healthy.status_code == 200, healthy.text
            assert healthy.json() == {"status": "ok", "checks": {"broker": "ok", "redis": "ok"}}
            own_redis.stop()
            down = poll(
                lambda: api.send("GET", "/healthz", token=None),
                lambda r: r.status_code != 200,
                15,
                "healthz after redis stopped",
            )
            assert down.status_code == 503
            doc = down.json()
            assert doc["status"] == "unavailable"
            assert all(v.startswith("failed") for v in doc["checks"].values()), doc
            answers = [
                down,
                api.send("POST", "/v1/jobs", body=GOOD),
                api.send("POST", "/v1/jobs/bulk", body=[GOOD]),
                api.send("GET", f"/v1/jobs/{uuid.uuid4()}"),
            ]
            for answer in answers[1:]:
                telnyx_errors(answer, 503)
            assert all(password not in a.text for a in answers)
        log = running.serve.log()
        assert "redis://:**@127.0.0.1" in log  # the line that names the broker, masked
        assert password not in log
    finally:
        own_redis.stop()


# 6. the OpenAPI document


def test_openapi_lists_exactly_the_endpoints(stack: Stack) -> None:
    doc = stack.api.send("GET", "/openapi.json", token=None).json()
    operations = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert operations == {
        ("/v1/jobs", "post"),
        ("/v1/jobs/bulk", "post"),
        ("/v1/jobs/{job_id}", "get"),
        ("/webhooks/telnyx", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    }
    (scheme,) = doc["components"]["securitySchemes"].items()
    assert scheme[1]["type"] == "http" and scheme[1]["scheme"].lower() == "bearer"
    for path, method in operations:
        security = doc["paths"][path][method].get("security")
        assert security == ([{scheme[0]: []}] if path.startswith("/v1/") else None), path

    fields = set(RecordStartJob.model_fields)
    assert {"conference_id", "format", "channels", "command_id"} <= fields
    one = doc["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert set(one["schema"]["properties"]) == fields
    assert set(one["schema"]["required"]) == {"conference_id", "format"}
    bulk = doc["paths"]["/v1/jobs/bulk"]["post"]["requestBody"]["content"]["application/json"]
    assert bulk["schema"]["type"] == "array"
    assert set(bulk["schema"]["items"]["properties"]) == fields


def test_the_readme_shows_every_endpoint_the_openapi_document_has(stack: Stack) -> None:
    """README "From any language" has a curl line for each endpoint, and only for those."""
    doc = stack.api.send("GET", "/openapi.json", token=None).json()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### From any language", 1)[1].split("\n### ", 1)[0]
    shown = {
        re.sub(r"/v1/jobs/(?!bulk)[^/]+$", "/v1/jobs/{job_id}", path)
        for path in re.findall(r'"\$API(/[^"?\s]*)', section)
    }
    assert shown == {*doc["paths"], "/openapi.json"}


# 7. secrets (last: it reads every log and body of the tests above)


def test_no_secret_in_any_log_line_or_response_body(idle: Stack) -> None:
    api = idle.api
    telnyx_errors(api.send("POST", "/v1/jobs", token=WRONG_TOKEN, body=GOOD), 401)
    telnyx_errors(api.send("GET", f"/v1/jobs/{uuid.uuid4()}", token=WRONG_TOKEN), 401)
    api.send("POST", "/v1/jobs", token=TOKEN_B, content=b"{", headers=JSON)
    api.status(api.enqueue(GOOD)["job_id"])
    api.send("GET", "/metrics", token=None)
    api.send("GET", "/healthz", token=None)
    assert_no_secret_anywhere()
