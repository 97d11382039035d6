"""The results as pictures (PNG, matplotlib's Agg backend: no screen needed).

* ``throughput.png`` (phase pools): jobs/s against concurrency for each way of running
  jobs — threads in 1 process, the default (processes x threads), prefork — and raw httpx,
  against the light fake at 20 ms; the cost phase's bare Celery and confrec before at 16;
* ``latency.png`` (phase cost): the distribution (CDF) of enqueue → outcome latency of the
  paced runs, confrec now and before at the same offered rate, the server's latency marked;
* ``burst.png`` (phase burst): each burst's completion time per fleet limit L and way of
  enqueueing, beside N/L (the floor) and the target 1.1 x N/L + 2 s.
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
    "default": {"color": "#d8473b", "marker": "o"},
    "threads, 1 process": {"color": "#8e44ad", "marker": "v"},
    "prefork": {"color": "#2e9e5b", "marker": "P"},
    "confrec before": {"color": "#e8a33b", "marker": "D"},
}
MODES = {"HTTP bulk": "#3b7dd8", "bulk file": "#2e9e5b"}


def write_plots(results: dict[str, Any], outdir: Path, title: str) -> list[Path]:
    """The plots whose phases ran (without an error) into ``outdir``; their paths."""

    def ok(name: str) -> bool:
        return name in results and "error" not in results[name]

    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    if ok("pools"):
        cost = results["cost"] if ok("cost") else None
        paths.append(_throughput(results["pools"], cost, outdir / "throughput.png", title))
    if ok("cost"):
        paths.append(_latency(results["cost"], outdir / "latency.png", title))
    if ok("burst"):
        paths.append(_burst(results["burst"], outdir / "burst.png", title))
    return paths


def _throughput(pools: dict[str, Any], cost: dict[str, Any] | None, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    levels = [int(c) for c in pools["levels"]]
    for way, runs in pools["runs"].items():
        xs = [c for c in levels if str(c) in runs]
        label = pools["default_label"] if way == "default" else way
        ys = [runs[str(c)].get("rate", 0.0) for c in xs]
        ax.plot(xs, ys, label=label, **STYLE[way])
    at_16 = cost["at_16"] if cost else {}
    for name in ("bare Celery", "confrec before"):
        run = at_16.get(name)
        if run and cost:
            label = f"{name} ({cost['baseline']})" if "before" in name else name
            ax.plot([16], [run["rate"]], linestyle="none", label=label, **STYLE[name])
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_xlabel("concurrency (requests in flight: threads or slots in all, per host)")
    ax.set_ylabel("jobs per second")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Throughput, light fake at {pools['latency_ms']:g} ms — {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _latency(cost: dict[str, Any], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, run in cost["paced"].items():
        values = run["latencies_ms"]
        if not values:
            continue
        shares = [(i + 1) / len(values) for i in range(len(values))]
        label = f"{name} (paced at {run['offered_rate']}/s, p99 {run['latency_p99_ms']} ms)"
        ax.step(values, shares, where="post", label=label, color=STYLE[name]["color"])
    ax.axvline(cost["latency_ms"], color="#444444", linestyle=":", label="server latency")
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


def _burst(burst: dict[str, Any], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    width = 0.35
    groups = list(burst["limited"].items())
    for g, (limit, runs) in enumerate(groups):
        for m, (mode, color) in enumerate(MODES.items()):
            run = runs.get(mode)
            if not run or "seconds" not in run:
                continue
            x = g + (m - 0.5) * width
            label = mode if g == 0 else None
            ax.bar(x, run["seconds"], width * 0.9, color=color, label=label)
            ax.annotate(
                f"{run['seconds']:.1f} s\n{run['ratio_to_floor']:.2f}x N/L",
                (x, run["seconds"] / 2),
                ha="center",
                va="center",
                fontsize=7,
                color="white",
            )
        floor = burst["jobs"] / float(limit)
        span = [g - width * 1.1, g + width * 1.1]
        ax.plot(span, [floor] * 2, color="#222222", label="N/L" if g == 0 else None)
        target = 1.1 * floor + 2
        label = "target 1.1 x N/L + 2 s" if g == 0 else None
        ax.plot(span, [target] * 2, color="#d8473b", linestyle="--", label=label)
    ax.set_xticks(range(len(groups)), [f"L = {limit}/s" for limit, _ in groups])
    ax.set_ylabel("first enqueue → last request, s")
    ax.set_title(
        f"Burst of {burst['jobs']:,} jobs, {burst['workers']} workers, fleet limit L — {title}",
        fontsize=10,
    )
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
