"""The dashboard's queries against a real Prometheus (Debian's ``prometheus``) scraping a
running system: ``confrec serve`` and a worker serving metrics, with the scrape jobs of
deploy/prometheus/prometheus.yml, only their targets moved to loopback. Every PromQL
expression of deploy/grafana/confrec-dashboard.json must parse and return data. Grafana
itself cannot run here; its one variable, ``$__rate_interval``, becomes a fixed window."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from nacl.signing import SigningKey
from prometheus_client.parser import text_string_to_metric_families

from confrec.worker.local.processes import ManagedProcess, free_port, spawn
from tests.support.serve import Stack, running_stack
from tests.support.system import unique
from tests.support.waiting import poll, wait_until

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (Debian: apt-get install prometheus)"
)
#: Grafana's variables in the dashboard's expressions, as fixed values (1 s scrapes).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1s", "$__range": "1m"}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, rows' panels included."""
    board = json.loads((ROOT / "deploy" / "grafana" / "confrec-dashboard.json").read_text())
    found = []
    for panel in board["panels"] + [p for row in board["panels"] for p in row.get("panels", [])]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: a variable the test does not know"
            found.append((panel["title"], expr))
    return found


def local_config(targets: Mapping[str, str]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with each job's service discovery replaced by its
    loopback target (``targets``: job name → host:port) and 1 s scrapes."""
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    )
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(targets)
    for name, job in jobs.items():
        del job["dns_sd_configs"]
        job["static_configs"] = [{"targets": [targets[name]]}]
    return config


def start_prometheus(workdir: Path, config: dict[str, Any]) -> tuple[ManagedProcess, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    argv = [
        str(PROMETHEUS),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address={address}",
    ]
    return spawn("prometheus", argv, workdir), f"http://{address}"


def query(root: str, expr: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query: ``status`` and ``data`` (or ``error``)."""
    try:
        answer: dict[str, Any] = httpx.get(
            f"{root}/api/v1/query", params={"query": expr}, timeout=5
        ).json()
    except httpx.HTTPError as exc:
        return {"status": "unreachable", "error": type(exc).__name__}
    return answer


def serve_samples(stack: Stack) -> dict[str, float]:
    text = stack.api.send("GET", "/metrics", token=None).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


@pytest.fixture(scope="module")
def stack(
    own_redis_url: str, simulator: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A serve with a webhook key on a Redis of the module's own (its batches alone)."""
    key = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    workdir = tmp_path_factory.mktemp("prometheus")
    with running_stack(workdir, own_redis_url, simulator, TELNYX_PUBLIC_KEY=key) as found:
        yield found


def test_every_dashboard_query_answers_from_a_real_prometheus(stack: Stack, tmp_path: Path) -> None:
    api, system = stack.api, stack.system
    # What the panels count: a batch over HTTP (in flight until a worker runs it), a
    # webhook with no signature, and a message that is not a job.
    bulk = api.send(
        "POST",
        "/v1/jobs/bulk",
        body=[
            {"conference_id": unique(), "format": "wav"},
            {"conference_id": unique("ended-"), "format": "wav"},
        ],
    )
    assert bulk.status_code == 202, bulk.text
    assert api.send("POST", "/webhooks/telnyx", token=None, body={}).status_code == 401
    samples = serve_samples(stack)
    assert samples["confrec_batches_in_flight"] == 1
    assert samples["confrec_event_stream_clients"] == 0
    system.client.lpush(stack.queue, "not an envelope")
    metrics_port = free_port()
    system.start_worker(f"p{unique()[-6:]}", {"CONFREC_METRICS_PORT": str(metrics_port)})
    job_ids = [job["job_id"] for job in bulk.json()["jobs"]]
    outcomes = system.outcomes(job_ids)
    assert sorted(found[0].reason for found in outcomes.values()) == ["ok", "rejected"]
    wait_until(lambda: serve_samples(stack)["confrec_batches_in_flight"] == 0, 10, "batch done")

    serve_address = stack.serve.extra["root"].removeprefix("http://")
    targets = {"confrec-worker": f"127.0.0.1:{metrics_port}", "confrec-serve": serve_address}
    prometheus, root = start_prometheus(tmp_path / "prometheus", local_config(targets))
    try:
        up = poll(
            lambda: query(root, "up").get("data", {}).get("result", []),
            lambda found: len(found) == 2 and all(s["value"][1] == "1" for s in found),
            15,
            f"prometheus scraping both jobs (log {prometheus.log_path})",
            0.2,
        )
        assert {s["metric"]["job"] for s in up} == set(targets)
        queries = dashboard_queries()
        answers: dict[str, dict[str, Any]] = {}

        def all_answer() -> bool:
            answers.update({expr: query(root, expr) for _, expr in queries})
            return all(a.get("data", {}).get("result") for a in answers.values())

        try:
            wait_until(all_answer, 15, "every dashboard query returning data", 0.5)
        finally:
            for title, expr in queries:
                answer = answers.get(expr, {})
                assert answer.get("status") == "success", (title, expr, answer)
                assert answer["data"]["result"], f"{title}: no data for {expr}"
        in_flight = query(root, "max(confrec_batches_in_flight)")["data"]["result"]
        assert in_flight[0]["value"][1] == "0"
        rejected = query(root, 'confrec_webhooks_total{result="rejected"}')["data"]["result"]
        assert [s["value"][1] for s in rejected] == ["1"]  # the unsigned webhook, counted
    finally:
        prometheus.stop()
    assert not prometheus.alive()
