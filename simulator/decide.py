"""How the simulator answers one ``record_start``, decided on arrival.

Per request, in this order:

1. arrival is counted (stats, per-second buckets, per-address log), and the conference the
   address means is looked up — made if new (:mod:`confrec.simulator.conferences`);
2. bearer auth -> 401;
3. global fixed-window limit (``limit_rps``) -> 429;
4. fault script from the address (see :mod:`confrec.simulator.faults`)
   -> 503 / 429 / 408 / dropped connection;
5. body validation -> 422;
6. ``missing-`` or an id in another region -> 404; ``ended-`` or a conference that has
   ended -> 422 90019;
7. de-dupe by ``command_id`` and 200 ``{"data": {"result": "ok"}}``; a recording that
   started (not a repeat) is returned for the app to schedule its webhook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confrec.simulator import errors
from confrec.simulator.auth import rate_headers
from confrec.simulator.conferences import DEFAULT_REGION, Conference, ConferenceBook, SimRecording
from confrec.simulator.faults import Answer
from confrec.simulator.state import DROPPED_STATUS, SimState
from confrec.simulator.validation import ENUMS, parse_body, validate_body

__all__ = ["Reply", "SimConfig", "decide", "too_many"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The knobs each request reads."""

    api_key: str | None
    latency_ms: float


@dataclass(slots=True)
class Reply:
    """The decided answer to one request (``drop`` = close, send nothing)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    undecodable: bool = False
    started: SimRecording | None = None  # the recording this request started, if any


def too_many(limit: int, reset_in_s: float) -> Reply:
    headers = {"Retry-After": "1", **rate_headers(limit, 0, reset_in_s)}
    return Reply(429, errors.errors_body(errors.rate_limited()), headers)


def region_of(obj: dict[str, Any] | None) -> str:
    """The body's ``region`` when it is a valid one, else Telnyx's default ``US``."""
    region = None if obj is None else obj.get("region")
    return region if isinstance(region, str) and region in ENUMS["region"] else DEFAULT_REGION


def decide(
    sim: SimState,
    book: ConferenceBook,
    cfg: SimConfig,
    address: str,
    *,
    authorized: bool,
    body: bytes,
    now: float,
) -> tuple[Reply, float]:
    """Book-keep one request and decide its reply; returns ``(reply, delay_s)``.

    Synchronous on purpose: with no ``await`` inside, concurrent requests see
    consistent counters (fault attempts, rate windows, de-dupe, conferences).
    """
    parsed = parse_body(body)
    record = sim.arrive(address, parsed.command_id, now)
    plan = sim.conference(address).plan
    region = region_of(parsed.obj)
    # The conference exists before anyone asks (Telnyx made it when a participant joined):
    # every arrival finds it, so its created_at is never after a job's first attempt.
    conf = None if plan.terminal is not None else book.touch(address, region, now)
    delay_s = (cfg.latency_ms + plan.slow_ms) / 1000.0
    reply = _decide(sim, book, conf, address, region, authorized, parsed.obj, parsed.error, now)
    sim.finish(record, DROPPED_STATUS if reply.drop else reply.status)
    return reply, delay_s


def _decide(
    sim: SimState,
    book: ConferenceBook,
    conf: Conference | None,
    address: str,
    region: str,
    authorized: bool,
    obj: dict[str, Any] | None,
    body_error: errors.ErrorDict | None,
    now: float,
) -> Reply:
    if not authorized:
        return Reply(401, errors.errors_body(errors.auth_failed()))

    allowed, remaining, reset_in = sim.take_global_slot(now)
    limit = sim.limit_per_window
    if not allowed and limit is not None:
        return too_many(limit, reset_in)
    ok_headers = {} if limit is None else rate_headers(limit, remaining, reset_in)

    answer = sim.conference(address).plan.answer_for(sim.next_fault_attempt(address))
    if answer is Answer.DROP:
        return Reply(DROPPED_STATUS, drop=True)
    if answer is Answer.FLAKY:
        return Reply(503, errors.errors_body(errors.service_unavailable()), {"Retry-After": "1"})
    if answer is Answer.RATELIMITED:
        return too_many(limit or 1, reset_in)
    if answer is Answer.TIMEOUT408:
        return Reply(408, errors.errors_body(errors.request_timeout()))

    if obj is None:
        assert body_error is not None
        return Reply(422, errors.errors_body(body_error), ok_headers)
    problems = validate_body(obj)
    if problems:
        return Reply(422, errors.errors_body(*problems), ok_headers)

    if answer is Answer.ENDED:
        return Reply(422, errors.errors_body(errors.conference_ended()), ok_headers)
    if answer is Answer.MISSING or conf is None or conf.region != region:
        return Reply(404, errors.errors_body(errors.conference_not_found()), ok_headers)
    if conf.status == "completed":
        return Reply(422, errors.errors_body(errors.conference_ended()), ok_headers)

    command_id = obj.get("command_id")
    started = None
    if sim.start_recording(address, command_id if isinstance(command_id, str) else None, now):
        started = book.start_recording(conf, obj["format"], obj.get("channels", "single"), now)
    return Reply(
        200,
        {"data": {"result": "ok"}},
        ok_headers,
        undecodable=answer is Answer.UNDECODABLE,
        started=started,
    )
