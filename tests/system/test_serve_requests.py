"""``confrec serve`` answering its clients' requests: nothing enqueued on error, bearer
tokens, request metrics, webhooks without a public key, the OpenAPI document and the
README's endpoints, and no secret anywhere. A real service process on loopback.

The module's serve has its own queue and streams, so counts are exact, and no worker
consumes its queue, so what a request enqueued is what the queue holds. Serves of a
test's own (curl and workers, refusing to start, health): test_serve_processes.py. The
secrets check comes last and reads every serve's log and body so far, that module's too
(it sorts first).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from confrec.tasks.job import RecordStartJob
from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import (
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


# nothing enqueued on error

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


# auth and metrics


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


# webhooks without TELNYX_PUBLIC_KEY


def test_webhooks_answer_503_without_a_public_key(stack: Stack) -> None:
    body = dumps({"data": {"id": str(uuid.uuid4()), "event_type": "conference.recording.saved"}})
    headers = {**JSON, "telnyx-timestamp": str(int(time.time())), "telnyx-signature-ed25519": "x"}
    response = stack.api.send("POST", "/webhooks/telnyx", token=None, content=body, headers=headers)
    (err,) = telnyx_errors(response, 503)
    assert "TELNYX_PUBLIC_KEY" in err["detail"]
    assert stack.system.state.xlen(stack.recordings_stream) == 0


# the OpenAPI document


def test_openapi_lists_exactly_the_endpoints(stack: Stack) -> None:
    doc = stack.api.send("GET", "/openapi.json", token=None).json()
    operations = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert operations == {
        ("/v1/jobs", "post"),
        ("/v1/jobs/bulk", "post"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/batches", "get"),
        ("/v1/batches/{batch_id}", "get"),
        ("/v1/batches/{batch_id}/jobs", "get"),
        ("/v1/batches/{batch_id}/retry", "post"),
        ("/v1/events", "get"),
        ("/v1/session", "post"),
        ("/v1/session", "delete"),
        ("/webhooks/telnyx", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    }
    (scheme,) = doc["components"]["securitySchemes"].items()
    assert scheme[1]["type"] == "http" and scheme[1]["scheme"].lower() == "bearer"
    for path, method in operations:
        security = doc["paths"][path][method].get("security")
        if path == "/v1/session":  # signing in takes the token (header or body); out, a cookie
            continue
        assert security == ([{scheme[0]: []}] if path.startswith("/v1/") else None), path

    fields = set(RecordStartJob.model_fields)
    assert {"conference_id", "format", "channels", "command_id"} <= fields
    one = doc["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert set(one["schema"]["properties"]) == fields
    assert set(one["schema"]["required"]) == {"conference_id", "format"}
    bulk = doc["paths"]["/v1/jobs/bulk"]["post"]["requestBody"]["content"]["application/json"]
    assert bulk["schema"]["type"] == "array"
    assert set(bulk["schema"]["items"]["properties"]) == fields


def test_openapi_documents_metrics_as_prometheus_text(stack: Stack) -> None:
    doc = stack.api.send("GET", "/openapi.json", token=None).json()
    content = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/plain"}
    answer = stack.api.send("GET", "/metrics", token=None)
    assert answer.headers["content-type"].startswith("text/plain")


def test_the_readme_shows_every_endpoint_the_openapi_document_has(stack: Stack) -> None:
    """README "From any language" has a curl line for each endpoint, and only for those."""
    doc = stack.api.send("GET", "/openapi.json", token=None).json()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### From any language", 1)[1].split("\n### ", 1)[0]
    shown = {
        re.sub(r"/v1/jobs/(?!bulk)[^/]+$", "/v1/jobs/{job_id}", path).replace(
            "$BATCH", "{batch_id}"
        )
        for path in re.findall(r'"\$API(/[^"?\s]*)', section)
    }
    assert shown == {*doc["paths"], "/openapi.json"}


# secrets (last: it reads every log and body of the tests above, and test_serve_processes.py's)


def test_no_secret_in_any_log_line_or_response_body(idle: Stack) -> None:
    api = idle.api
    telnyx_errors(api.send("POST", "/v1/jobs", token=WRONG_TOKEN, body=GOOD), 401)
    telnyx_errors(api.send("GET", f"/v1/jobs/{uuid.uuid4()}", token=WRONG_TOKEN), 401)
    api.send("POST", "/v1/jobs", token=TOKEN_B, content=b"{", headers=JSON)
    api.status(api.enqueue(GOOD)["job_id"])
    api.send("GET", "/metrics", token=None)
    api.send("GET", "/healthz", token=None)
    assert_no_secret_anywhere()
