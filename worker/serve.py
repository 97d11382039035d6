"""``confrec serve``: the HTTP service's parts built from the settings, served by granian.

granian rather than uvicorn (docs/security.md): uvicorn has no deadline for a request
head or body that is still arriving and no bound on a head's size, so one client can hold
a connection and its memory for good; granian closes a head not read within
``CONFREC_SERVE_HEADER_TIMEOUT_S``, refuses a head over its HTTP/1 buffer, and holds at
most ``CONFREC_SERVE_MAX_CONNECTIONS`` connections at once (the body deadline is the
app's own: :mod:`confrec.service.deadline`).

The parent process checks the settings before anything is spawned: it refuses to start
without ``CONFREC_API_TOKENS`` (an open enqueue endpoint would let anyone start
recordings) or with a ``TELNYX_PUBLIC_KEY`` that is not a key, and it never reads
``TELNYX_API_KEY``. granian's worker process then builds the service from the same
environment (:func:`service_from_env`). No access log: one line per request is noise at
bulk rates, and the service logs nothing from a request's headers.
"""

from __future__ import annotations

import logging

import kombu
import redis
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server import Server

from confrec.config.settings import REDIS_CONNECT_TIMEOUT_S, Settings
from confrec.service import ServiceParts, create_service
from confrec.service.auth import BearerTokens
from confrec.service.events import MAX_BLOCK_S
from confrec.service.metrics import ServiceMetrics
from confrec.service.signature import WebhookVerifier, load_public_key
from confrec.service.tokens import TokenError
from confrec.tasks.store.api_rate import ApiRateLimit
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.event_feed import EventFeed
from confrec.tasks.store.sessions import SessionStore
from confrec.worker.broker.clients import broker_client, redis_client, state_client
from confrec.worker.producing import (
    create_batch_retry,
    create_conferences,
    create_ledger,
    create_producer,
    create_recording_counts,
)

#: Connections for opening event streams (their position, gaps) beside the streams' reads:
#: serve's thread pool (anyio's 40) bounds those.
EVENT_OPENING_CONNECTIONS = 64
MISSING_TOKENS = "CONFREC_API_TOKENS is not set; confrec serve needs at least one bearer token"
#: Requests in flight get this long after SIGINT/SIGTERM; then the worker is killed.
SHUTDOWN_S = 5
#: granian's HTTP/1 read buffer: a request head larger than this is refused (hyper's
#: floor is 8 KiB); a body streams through it in chunks, never more at once.
MAX_HEAD_BYTES = 64 * 1024

log = logging.getLogger("confrec.serve")


class ServeConfigError(ValueError):
    """A setting ``serve`` cannot start with; the text names the variable."""


def bearer_tokens(settings: Settings) -> BearerTokens:
    """The tokens of CONFREC_API_TOKENS and CONFREC_API_TOKENS_FILE; ServeConfigError
    (naming the variable, never a token) when there is none or one is malformed."""
    if not settings.api_token_list and settings.api_tokens_file is None:
        raise ServeConfigError(MISSING_TOKENS)
    try:
        raw = settings.api_tokens.get_secret_value() if settings.api_tokens else ""
        return BearerTokens(raw, settings.api_tokens_file)
    except TokenError as exc:
        raise ServeConfigError(str(exc)) from None


def _verifier(settings: Settings) -> WebhookVerifier | None:
    if not settings.telnyx_public_key:
        return None
    try:
        return WebhookVerifier(load_public_key(settings.telnyx_public_key))
    except ValueError as exc:
        raise ServeConfigError(f"TELNYX_PUBLIC_KEY: {exc}") from None


def build_parts(settings: Settings) -> ServiceParts:
    tokens = bearer_tokens(settings)
    tokens.reload_on_sighup()  # in the process that checks the tokens
    verifier = _verifier(settings)
    state = state_client(settings)
    producer = create_producer(settings)
    batches = BatchStore(state)
    sessions = SessionStore(state, settings.session_ttl_s)
    tokens.use_sessions(sessions)
    return ServiceParts(
        producer=producer,
        ledger=create_ledger(settings, state),
        conferences=create_conferences(settings, state),
        batches=batches,
        tokens=tokens,
        verifier=verifier,
        checks={"broker": BrokerProbe(settings), "redis": state.ping},
        metrics=ServiceMetrics(batches),  # confrec_batches_in_flight read at each scrape
        rate_limit=(
            ApiRateLimit(state, settings.api_rate_limit, settings.api_rate_burst)
            if settings.api_rate_limit
            else None
        ),
        retries=create_batch_retry(settings, state, producer),
        recording_counts=create_recording_counts(settings, state),
        events=EventFeed(_blocking_client(settings), settings.results_stream),
        events_max_clients=settings.events_max_clients,
        events_heartbeat_s=settings.events_heartbeat_s,
        sessions=sessions,
    )


def _blocking_client(settings: Settings) -> redis.Redis:
    """The event streams' client: its reads wait up to ``MAX_BLOCK_S`` (XREAD BLOCK), one
    per stream thread (``events_max_clients``), a stream's last read outliving its client
    by up to that; beside them, the short reads that open a stream (serve's threads)."""
    return redis_client(
        settings.state_url,
        socket_timeout=MAX_BLOCK_S + REDIS_CONNECT_TIMEOUT_S,
        master_name=settings.sentinel_master,
        max_connections=settings.events_max_clients + EVENT_OPENING_CONNECTIONS,
    )


class BrokerProbe:
    """``/healthz``'s broker check on one connection kept between calls (a new one per
    probe would cost the broker a connection per health check)."""

    def __init__(self, settings: Settings) -> None:
        self._redis: redis.Redis | None = None
        self._amqp: kombu.Connection | None = None
        if settings.broker_is_redis:
            self._redis = broker_client(settings, socket_timeout=REDIS_CONNECT_TIMEOUT_S)
        else:
            self._amqp = kombu.Connection(
                settings.broker_url, connect_timeout=REDIS_CONNECT_TIMEOUT_S
            )

    def __call__(self) -> None:
        if self._redis is not None:
            self._redis.ping()  # its pool keeps the connection
            return
        assert self._amqp is not None
        try:
            self._amqp.ensure_connection(max_retries=1)  # connects only when it has none
            self._amqp.maybe_close_channel(self._amqp.channel())  # opening: a round trip
        except Exception:
            self._amqp.close()  # the next probe connects anew
            raise


def service_from_env() -> object:
    """granian's factory, run in its worker process: the service (an ASGI app) from the
    environment."""
    settings = Settings()
    return create_service(
        build_parts(settings),
        body_timeout_s=settings.serve_body_timeout_s,
        healthz_timeout_s=settings.healthz_timeout_s,
    )


def run_serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (requests in flight get ``SHUTDOWN_S``)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    bearer_tokens(settings)  # in the parent: a bad setting stops serve before any worker
    _verifier(settings)
    if settings.telnyx_public_key is None:
        log.warning("TELNYX_PUBLIC_KEY is not set: /webhooks/telnyx answers 503")
    log.info(
        "confrec serve: broker %s, state %s", settings.safe_broker_url, settings.safe_state_url
    )
    Server(
        f"{__name__}:{service_from_env.__name__}",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,  # no lifespan: the service has no startup of its own
        workers=1,
        http=HTTPModes.http1,
        websockets=False,
        backpressure=settings.serve_max_connections,  # a bound on connections, not requests
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.serve_header_timeout_s * 1000),
            max_buffer_size=MAX_HEAD_BYTES,
        ),
        log_access=False,
        log_dictconfig={"loggers": {"_granian": {"level": "INFO", "propagate": True}}},
        workers_kill_timeout=SHUTDOWN_S,
    ).serve()
