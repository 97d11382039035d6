"""The cost phase as pictures (PNG, matplotlib's Agg backend: no screen needed).

* ``throughput.png``: jobs/s against concurrency for raw httpx, bare Celery and confrec
  (and confrec before, at 16), from one run;
* ``latency.png``: the distribution (CDF) of enqueue → outcome latency of the paced runs,
  confrec now and before at the same offered rate, with the simulator's own latency marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend
from matplotlib.ticker import ScalarFormatter

STYLE: dict[str, dict[str, Any]] = {
    "raw httpx": {"color": "#888888", "marker": "s"},
    "bare Celery": {"color": "#3b7dd8", "marker": "^"},
    "confrec": {"color": "#d8473b", "marker": "o"},
    "confrec before": {"color": "#e8a33b", "marker": "D"},
}


def write_plots(cost: dict[str, Any], outdir: Path, title: str) -> list[Path]:
    """Both plots into ``outdir``; returns their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    return [_throughput(cost, outdir / "throughput.png", title), _latency(cost, outdir, title)]


def _throughput(cost: dict[str, Any], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    sweep = {int(c): runs for c, runs in cost["sweep"].items()}
    levels = sorted(sweep)
    for name in ("raw httpx", "bare Celery", "confrec"):
        ax.plot(levels, [sweep[c][name]["rate"] for c in levels], label=name, **STYLE[name])
    before = cost["at_16"].get("confrec before")
    if before:
        label = f"confrec before ({cost['baseline']})"
        ax.plot([16], [before["rate"]], linestyle="none", label=label, **STYLE["confrec before"])
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_xlabel("concurrency (threads per worker process / raw httpx threads)")
    ax.set_ylabel("jobs per second")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Throughput, simulator at {cost['latency_ms']:g} ms — {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _latency(cost: dict[str, Any], outdir: Path, title: str) -> Path:
    path = outdir / "latency.png"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, run in cost["paced"].items():
        values = run["latencies_ms"]
        if not values:
            continue
        shares = [(i + 1) / len(values) for i in range(len(values))]
        label = f"{name} (paced at {run['offered_rate']}/s, p99 {run['latency_p99_ms']} ms)"
        ax.step(values, shares, where="post", label=label, color=STYLE[name]["color"])
    ax.axvline(cost["latency_ms"], color="#444444", linestyle=":", label="simulator latency")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("enqueue → outcome, ms (log scale)")
    ax.set_ylabel("share of jobs")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"Latency below saturation, same offered rate — {title}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
