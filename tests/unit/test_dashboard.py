"""The Grafana dashboard (deploy/grafana) asks only for metrics confrec exposes (the
worker's and serve's), and shows every one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import confrec.tasks.metrics  # noqa: F401  (registers the worker's metrics)
from confrec.service.metrics import BATCHES_IN_FLIGHT, ServiceMetrics
from confrec.worker.metrics_server import QueueDepth

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "confrec-dashboard.json"
#: The series each metric type exposes, after its family name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exposed() -> dict[str, set[str]]:
    """Family name → the series names a worker's or serve's /metrics can hold (serve's
    batches in flight are read from Redis at a scrape: named here)."""
    serve = ServiceMetrics().registry.collect()
    families = [*REGISTRY.collect(), *QueueDepth(lambda: 0).collect(), *serve]
    found = {
        family.name: {family.name + suffix for suffix in SUFFIXES[family.type]}
        for family in families
        if family.name.startswith("confrec_")
    }
    return found | {BATCHES_IN_FLIGHT: {BATCHES_IN_FLIGHT}}


def panels() -> list[dict[str, Any]]:
    """Every panel with queries (rows only group them)."""
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def exprs() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def test_every_panel_asks_only_for_metrics_confrec_exposes() -> None:
    series = set().union(*exposed().values())
    for expr in exprs():
        names = set(re.findall(r"\bconfrec_\w+", expr))
        assert names and names <= series, expr


def test_every_metric_confrec_exposes_is_on_the_dashboard() -> None:
    shown = {name for expr in exprs() for name in re.findall(r"\bconfrec_\w+", expr)}
    for family, series in exposed().items():
        assert series & shown, f"{family} is on no panel"


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    uids = {panel["datasource"]["uid"] for panel in panels()}
    assert uids == {source["uid"]} and source["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "confrec.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
