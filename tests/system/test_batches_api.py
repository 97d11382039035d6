"""A batch you can follow, on a real ``confrec serve``, a real worker and the simulator:
``GET /v1/batches[/{id}[/jobs]]`` (counts, lists by status and label, cursor paging, the
caller's own only, 422 naming the query parameter, the OpenAPI document), and the same
batch from the shell with ``confrec batch``; labels in ``status`` and ``results``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import OPERATOR_TOKEN, TOKEN_A, TOKEN_B, Stack, running_stack
from tests.support.system import unique_id
from tests.support.waiting import poll


@pytest.fixture(scope="module")
def stack(redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path) -> Iterator[Stack]:
    with running_stack(workdir, redis_proc.extra["url"], simulator) as stack:
        stack.system.start_worker(f"batches-{uuid.uuid4().hex[:6]}", concurrency=4)
        yield stack


@pytest.fixture(scope="module")
def batch(stack: Stack) -> dict[str, Any]:
    """A finished bulk of five: three started, a 404 and a 422 rejection; labelled."""
    tag = uuid.uuid4().hex[:8]
    jobs = [
        {"conference_id": unique_id(), "format": "wav", "labels": {"meeting": "4711"}},
        {"conference_id": unique_id(), "format": "wav", "labels": {"meeting": "42"}},
        {"conference_id": unique_id(), "format": "mp3", "labels": {"meeting": "4711"}},
        {"conference_id": f"missing-{tag}", "format": "wav", "labels": {"meeting": "4711"}},
        {"conference_id": f"ended-{tag}", "format": "wav"},
    ]
    answer = stack.api.send("POST", "/v1/jobs/bulk", body=jobs)
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    summary = poll(
        lambda: get(stack, f"/v1/batches/{accepted['batch']}"),
        lambda doc: not doc["in_flight"],
        30,
        "the batch finished",
    )
    return accepted | {"summary": summary}


def get(stack: Stack, path: str, token: str | None = TOKEN_A, status: int = 200) -> Any:
    answer = stack.api.send("GET", path, token=token)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_a_batch_over_http(stack: Stack, batch: dict[str, Any]) -> None:
    batch_id, ids = batch["batch"], [job["job_id"] for job in batch["jobs"]]
    doc = batch["summary"]
    assert doc["total"] == 5 and doc["states"] == {"queued": 0, "running": 0, "finished": 5}
    assert doc["statuses"] == {"succeeded": 3, "failed": 2}
    assert doc["reasons"] == {"ok": 3, "rejected": 2, "retries_exhausted": 0, "invalid": 0}
    assert doc["recordings"]["pending"] == 3 and doc["already_done"] == 0

    assert get(stack, "/v1/batches?limit=1")["batches"][0]["batch"] == batch_id
    assert batch_id not in [b["batch"] for b in get(stack, "/v1/batches", TOKEN_B)["batches"]]
    (hidden,) = get(stack, f"/v1/batches/{batch_id}", TOKEN_B, 404)["errors"]
    (unknown,) = get(stack, f"/v1/batches/{uuid.uuid4()}", TOKEN_B, 404)["errors"]
    assert (hidden["code"], hidden["title"]) == (unknown["code"], unknown["title"])
    get(stack, f"/v1/batches/{batch_id}/jobs", TOKEN_B, 404)
    assert get(stack, f"/v1/batches/{batch_id}", OPERATOR_TOKEN)["total"] == 5

    failed = get(stack, f"/v1/batches/{batch_id}/jobs?status=failed")
    assert [job["job_id"] for job in failed["jobs"]] == ids[3:] and failed["cursor"] is None
    missing, ended = failed["jobs"]
    assert (missing["seq"], missing["reason"], missing["http_status"]) == (4, "rejected", 404)
    assert missing["errors"][0]["code"] == "90058" and missing["labels"] == {"meeting": "4711"}
    assert ended["errors"][0]["code"] == "90019" and ended["labels"] is None
    ok = get(stack, f"/v1/batches/{batch_id}/jobs?status=pending")["jobs"]
    assert [job["job_id"] for job in ok] == ids[:3]
    assert {job["recording_state"] for job in ok} == {"pending"}

    labelled = get(stack, f"/v1/batches/{batch_id}/jobs?label=meeting:4711")["jobs"]
    assert [job["job_id"] for job in labelled] == [ids[0], ids[2], ids[3]]
    both = get(stack, f"/v1/batches/{batch_id}/jobs?label=meeting:4711&status=failed")
    assert [job["job_id"] for job in both["jobs"]] == [ids[3]]

    seen, cursor = [], ""
    for _ in range(4):
        page = get(stack, f"/v1/batches/{batch_id}/jobs?limit=2{cursor}")
        seen += [(job["seq"], job["job_id"]) for job in page["jobs"]]
        if page["cursor"] is None:
            break
        cursor = f"&cursor={page['cursor']}"
    assert seen == list(enumerate(ids, start=1))
    assert get(stack, f"/v1/jobs/{ids[1]}")["labels"] == {"meeting": "42"}


@pytest.mark.parametrize(
    "query, pointer",
    [
        ("status=bogus", "/status"),
        ("limit=0", "/limit"),
        ("limit=501", "/limit"),
        ("cursor=abc", "/cursor"),
        ("label=nocolon", "/label"),
    ],
)
def test_a_bad_query_names_its_parameter(
    stack: Stack, batch: dict[str, Any], query: str, pointer: str
) -> None:
    found = get(stack, f"/v1/batches/{batch['batch']}/jobs?{query}", status=422)
    assert [e["source"]["pointer"] for e in found["errors"]] == [pointer]


def test_the_batch_routes_are_in_the_openapi_document(stack: Stack) -> None:
    paths = get(stack, "/openapi.json", token=None)["paths"]
    for path in ("/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/jobs"):
        answers = paths[path]["get"]["responses"]
        assert "$ref" in json.dumps(answers["200"]) and {"401", "422"} <= set(answers)
    status = paths["/v1/batches/{batch_id}/jobs"]["get"]["parameters"]
    assert (
        "not_saved" in json.dumps(status)
        and "404" in paths["/v1/batches/{batch_id}"]["get"]["responses"]
    )


def test_confrec_batch_from_the_shell(stack: Stack, batch: dict[str, Any]) -> None:
    system, batch_id = stack.system, batch["batch"]
    ids = [job["job_id"] for job in batch["jobs"]]
    shown = system.cli("batch", batch_id, "--failed", "--not-saved", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["statuses"] == {"succeeded": 3, "failed": 2} and doc["not_saved"] == []
    assert [job["job_id"] for job in doc["failed"]] == ids[3:]

    text = system.cli("batch", batch_id, "--failed")
    assert text.returncode == 0, text.stderr
    (line,) = [line for line in text.stdout.splitlines() if ids[3] in line]
    assert "missing-" in line and "rejected" in line and "http=404" in line and "90058" in line
    assert "statuses      succeeded 3  failed 2" in text.stdout

    newest = system.cli("batch", "--json")
    assert batch_id in [b["batch"] for b in json.loads(newest.stdout)["batches"]]
    unknown = system.cli("batch", str(uuid.uuid4()))
    assert unknown.returncode == 5 and "no batch" in unknown.stderr

    status = system.cli("status", ids[0])
    assert 'labels         {"meeting": "4711"}' in status.stdout, status.stdout
    results = system.cli("results", "--json", "--count", "20")
    outcomes = [json.loads(line) for line in results.stdout.splitlines()]
    assert {"meeting": "42"} in [o.get("labels") for o in outcomes if o["job_id"] == ids[1]]
