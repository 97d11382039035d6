"""The results as one table (a Markdown pipe table, aligned, so it pastes into docs)."""

from __future__ import annotations

from typing import Any

from bench.batch import batch_rows
from bench.bodies import bodies_rows
from bench.targets import Row, burst_rows, cost_rows, pool_rows, verdict

ENQUEUE_TARGET = 10_000
OVERHEAD_TARGET_MS = 50.0
#: "Answer within a few milliseconds": Telnyx times webhooks out and retries them.
WEBHOOK_P99_TARGET_MS = 5.0


def _rate_vs(rate: float, target: float) -> str:
    return verdict(rate >= target, f"{rate / target:.2f}x target")


def _enqueue_rows(e: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for size, r in e["sizes"].items():
        n = f"{int(size):,}"
        api, bulk = r["api"]["rate"], r["bulk"]["rate"]
        rows.append(
            (f"enqueue API {n} jobs", f"{api:,}/s", "≥ 10,000/s", _rate_vs(api, ENQUEUE_TARGET))
        )
        share = r["bulk"]["validate_pass_seconds"] / r["bulk"]["seconds"]
        rows.append(
            (
                f"enqueue bulk file {n} jobs",
                f"{bulk:,}/s",
                "≥ 10,000/s",
                _rate_vs(bulk, ENQUEUE_TARGET),
            )
        )
        rows.append(("  bulk: validating pass share", f"{share:.0%}", "", ""))
    for key, rb in e["redis_benchmark"].items():
        value = f"{rb['rate']:,}/s" if "rate" in rb else rb.get("error", "?")
        rows.append((f"redis-benchmark lpush -{key}", value, "(server ceiling)", ""))
    par = e["parallel"]
    two = par["2 processes"]
    rows.append(
        (
            f"enqueue API, 2 processes, {two['jobs']:,} jobs",
            f"{two['rate']:,}/s",
            "≥ 10,000/s",
            _rate_vs(two["rate"], ENQUEUE_TARGET) + f", {par['speedup']}x 1 process",
        )
    )
    return rows


def _ref_rows(r: dict[str, Any]) -> list[Row]:
    old, new = r["runs"].values()
    return [
        (
            f"vs {r['ref']}: enqueue API",
            f"{old['enqueue_rate']:,} → {new['enqueue_rate']:,}/s",
            "",
            f"{r['enqueue_speedup']}x",
        ),
        (
            f"vs {r['ref']}: e2e 20 ms 2x16 threads",
            f"{old['e2e_rate']} → {new['e2e_rate']}/s",
            "",
            f"{r['e2e_speedup']}x, CPU {old['worker_cpu_ms_per_job']} → "
            f"{new['worker_cpu_ms_per_job']} ms/job, Redis cmds "
            f"{old['redis_commands_per_job']} → {new['redis_commands_per_job']}/job",
        ),
    ]


def _e2e_rows(e: dict[str, Any]) -> list[Row]:
    lat = f"{e['latency_ms']:g} ms"
    c, raw = e["confrec"], e["raw_httpx"]
    rows: list[Row] = [
        (f"e2e {lat}: confrec 2x16 threads", f"{c.get('rate', 0):,}/s", "", ""),
        (
            f"e2e {lat}: raw httpx 32 threads",
            f"{raw['rate']:,}/s",
            "",
            f"client CPU {raw['after'].get('client_cpu_ms_per_request')} ms/request",
        ),
        (f"e2e {lat}: confrec / raw", f"{e['ratio_to_raw']:.2f}", "", "targets: the cost rows"),
        (
            f"e2e {lat}: burst latency p50 / p99",
            f"{c.get('latency_p50_ms')} / {c.get('latency_p99_ms')} ms",
            "",
            "queueing, saturated",
        ),
        (
            f"e2e {lat}: worker CPU / Redis commands per job",
            f"{c.get('worker_cpu_ms_per_job')} ms / {c.get('redis_commands_per_job')}",
            "",
            f"machine busy {c.get('cpu_seconds', {}).get('machine_busy', 0):.0%}, "
            f"others' share {c.get('cpu_seconds', {}).get('others_share', 0):.0%}",
        ),
    ]
    p = e.get("paced")
    if p:
        p99 = p["overhead_p99_ms"]
        rows.append(
            (
                f"e2e {lat}: paced at {p['offered_rate']}/s, overhead p50 / p99",
                f"{p['overhead_p50_ms']} / {p99} ms",
                "p99 < 50 ms",
                verdict(p99 < OVERHEAD_TARGET_MS, f"{p99 / OVERHEAD_TARGET_MS:.1f}x the bound"),
            )
        )
    return rows


def _rss_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [("worker RSS at start", f"{r['rss_at_start_mib']} MiB", "", "")]
    for count, mib in r["checkpoints"].items():
        if mib is not None:
            rows.append((f"worker RSS after {int(count):,} jobs", f"{mib} MiB", "", ""))
    growth = r["growth_ratio"]
    last = r["samples"][-1]
    rows.append(
        (
            f"worker RSS @{last['jobs']:,} / @first checkpoint",
            f"{growth}" if growth else "n/a",
            "flat",
            f"reached {r['reached']:,} of {r['target']:,} in {r['seconds']} s",
        )
    )
    return rows


def _service_rows(r: dict[str, Any]) -> list[Row]:
    first, again, bulk = r["first"], r["duplicate"], r["bulk"]
    n = f"{r['webhooks']:,}"
    few_ms = first["p99_ms"] <= WEBHOOK_P99_TARGET_MS
    return [
        (
            f"webhook answer, {n} new events p50 / p99",
            f"{first['p50_ms']} / {first['p99_ms']} ms",
            f"p99 ≤ {WEBHOOK_P99_TARGET_MS:g} ms",
            verdict(few_ms, f"max {first['max_ms']} ms, {first['stored']} stored"),
        ),
        (
            f"webhook answer, {n} duplicates p50 / p99",
            f"{again['p50_ms']} / {again['p99_ms']} ms",
            "",
            f"{again['stored']} stored (0 expected)",
        ),
        (
            f"POST /v1/jobs/bulk {bulk['jobs']:,} jobs",
            f"{bulk['rate']:,}/s",
            "",
            f"{bulk['seconds']} s to the 202",
        ),
    ]


def _broker_rows(r: dict[str, Any]) -> list[Row]:
    redis, rabbit = r["redis"], r["rabbitmq"]

    def pair(what: str, key: str, unit: str, note: str) -> Row:
        return (what, f"{redis[key][unit]:,} / {rabbit[key][unit]:,}", "", note)

    return [
        pair(
            f"broker Redis / RabbitMQ: enqueue {r['enqueue_jobs']:,} jobs/s",
            "enqueue",
            "rate",
            "1 producer; RabbitMQ with publisher confirms",
        ),
        pair(
            f"broker Redis / RabbitMQ: end to end {r['e2e_jobs']:,} jobs/s",
            "e2e",
            "rate",
            "1 worker, threads 16, simulator 20 ms",
        ),
        pair(
            "broker Redis / RabbitMQ: redelivery after kill -9, s",
            "redelivery",
            "seconds",
            f"Redis bound {redis['redelivery']['bound_s']:g} s "
            f"(visibility {r['visibility_timeout_s']:g} s)",
        ),
    ]


SECTIONS = [
    ("enqueue", _enqueue_rows),
    ("cost", cost_rows),
    ("burst", burst_rows),
    ("e2e_20", _e2e_rows),
    ("e2e_100", _e2e_rows),
    ("rss", _rss_rows),
    ("pools", pool_rows),
    ("service", _service_rows),
    ("bodies", bodies_rows),
    ("batch", batch_rows),
    ("brokers", _broker_rows),
    ("ref", _ref_rows),
]


def build_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, build in SECTIONS:
        if key in results:
            section = results[key]
            if "error" in section:
                rows.append((key, section["error"].splitlines()[0][:150], "", "see the JSON"))
            else:
                rows += build(section)
    return rows


def render(rows: list[Row]) -> str:
    header: Row = ("measurement", "value", "target", "verdict / note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(r: Row) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
