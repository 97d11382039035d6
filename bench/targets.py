"""The table's rows for issue 23's phases — cost, pools, burst — each target's ratio with
its before and after from the same run (bench/table.py puts them in the one table)."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str]
RATIO_TARGET = 0.8
FLOOR_TARGET = 0.95
CPU_TARGET = 2.0
#: The other confrec contestants quoted beside the one under test, in this order.
BESIDE = {"confrec before": "before", "confrec 1 process": "1 process", "confrec default": ""}


def verdict(ok: bool, detail: str) -> str:
    return f"{'met' if ok else 'MISSED'} ({detail})"


def cost_rows(c: dict[str, Any]) -> list[Row]:
    rows = _cost_block(c, f"cost, fake {c['latency_ms']:g} ms, 16 in flight")
    rows.append(
        (
            "cost: Celery processes per confrec worker",
            str(c.get("processes_per_worker", 1)),
            "",
            "confrec: 16 / that threads each; confrec default: 16 each",
        )
    )
    fake = c.get("server_cpu_ms_per_request", {})
    if fake:
        top = max(fake.values())
        rows.append(("cost: the fake's CPU per request, at most", f"{top} ms", "", "stays small"))
    for name, p in c["paced"].items():
        rows.append(
            (
                f"cost: {name} paced at {p['offered_rate']}/s, latency p50 / p99",
                f"{p['latency_p50_ms']} / {p['latency_p99_ms']} ms",
                "",
                "enqueue → outcome",
            )
        )
    sim = c.get("simulator")
    if sim:
        rows += _cost_block(sim | {"baseline": c["baseline"]}, "cost, simulator 20 ms")
    return rows


def _cost_block(c: dict[str, Any], head: str) -> list[Row]:
    at, q = c["at_16"], c["ratios"]

    def beside(key: str) -> str:
        parts = [
            f"{label or name.removeprefix('confrec ')} {q[name][key]:.2f}"
            for name, label in BESIDE.items()
            if name in q
        ]
        return "; " + ", ".join(parts) if parts else ""

    def target(label: str, key: str, bound: float, at_most: bool = False) -> Row:
        value = q["confrec"][key]
        ok = value <= bound if at_most else value >= bound
        sign = "≤" if at_most else "≥"
        note = verdict(ok, f"{value / bound:.2f}x the bound") + beside(key)
        return (f"{head}: {label}", f"{value:.2f}", f"{sign} {bound:.2f}", note)

    others = max(float(run.get("cpu_seconds", {}).get("others_share", 0)) for run in at.values())
    rates = " / ".join(f"{run['rate']:,}" for run in at.values())
    cpu = " / ".join(f"{run['worker_cpu_ms_per_job']}" for run in at.values())
    rounds = len(next(iter(at.values())).get("rates", [])) or 1
    rows: list[Row] = [
        (
            f"{head}: {' / '.join(at)}",
            f"{rates} jobs/s",
            "",
            f"median of {rounds} round(s); others' share ≤ {others:.0%}",
        ),
        (f"{head}: CPU ms per job, same order", cpu, "", "raw: the client process's"),
        (f"{head}: bare Celery / raw httpx", f"{q['bare_to_raw']:.2f}", "", "Celery's own cost"),
        target("confrec / raw httpx", "to_raw", RATIO_TARGET),
        target("confrec / bare Celery", "to_bare", FLOOR_TARGET),
        target("worker CPU / raw CPU per job", "cpu_to_raw", CPU_TARGET, at_most=True),
    ]
    if "speedup" in q:
        rows.append(
            (
                f"{head}: confrec now / before ({c['baseline']})",
                f"{q['speedup']:.2f}x",
                "",
                f"same run; CPU per job {q['cpu_saved']:.0%} less",
            )
        )
    return rows


def pool_rows(section: dict[str, Any]) -> list[Row]:
    levels = section["levels"]
    rows: list[Row] = []
    for way, runs in section["runs"].items():
        label = section["default_label"] if way == "default" else way
        rates = " / ".join(
            f"{runs[str(c)].get('rate', 0):,}" if str(c) in runs else "-" for c in levels
        )
        at16 = runs.get("16", {})
        cpu = at16.get("worker_cpu_ms_per_job", at16.get("client_cpu_ms_per_request"))
        note = f"at 16: CPU {cpu} ms/job"
        if "rss_mib" in at16:
            note += f", RSS {at16['rss_mib']} MiB, PSS {at16['pss_mib']} MiB"
            note += f", ran as {at16['banner']}"
        short = [c for c in map(str, levels) if runs.get(c, {}).get("complete") is False]
        if short:
            note += f"; budget cut the run at {', '.join(short)}"
        concurrency = "/".join(str(c) for c in levels)
        rows.append((f"pools: {label}, {concurrency} in flight", f"{rates} jobs/s", "", note))
    rows.append(("pools: gevent", "not measured", "", section["gevent"]))
    return rows


def burst_rows(b: dict[str, Any]) -> list[Row]:
    n = f"{b['jobs']:,}"
    rows: list[Row] = []
    for limit, runs in b["limited"].items():
        for mode, r in runs.items():
            lat = r["latency_ms"]
            others = r["cpu_seconds"].get("others_share", 0)
            rows.append(
                (
                    f"burst {n} jobs, L {limit}/s, {b['workers']} workers, {mode}",
                    f"{r['seconds']} s = {r['ratio_to_floor']:.2f}x N/L",
                    f"≤ {r['target_seconds']:.1f} s",
                    verdict(r["met"], f"{r['seconds'] / r['target_seconds']:.2f}x the bound")
                    + f"; enqueued → request p50/p90/p99/max {lat['p50']}/{lat['p90']}/"
                    f"{lat['p99']}/{lat['max']} ms; {r['seconds_from_start']} s from the start"
                    f"; requests at {r['request_rate']:,}/s, {r['repeated_requests']} repeated"
                    f"; others' share {others:.0%}",
                )
            )
    for workers, r in b["capacity"].items():
        cpu = r["cpu_seconds"]
        rows.append(
            (
                f"burst capacity, no limit, {workers} worker command(s)",
                f"{r['request_rate']:,} req/s",
                "",
                f"{r['rate']:,}/s first enqueue → last request; CPU {r['worker_cpu_ms_per_job']} "
                f"ms/job; machine busy {cpu.get('machine_busy', 0):.0%}, others' share "
                f"{cpu.get('others_share', 0):.0%}",
            )
        )
    one = b["capacity"].get("1")
    if one:
        rows.append(
            (
                "burst: highest L one host sustains",
                f"≈ {one['request_rate']:,}/s",
                "",
                "1 worker command (all its cores), no limit, light fake at 20 ms",
            )
        )
    return rows
