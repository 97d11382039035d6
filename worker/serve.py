"""``confrec serve``: the HTTP service's parts built from the settings, served by uvicorn.

Refuses to start without ``CONFREC_API_TOKENS`` (an open enqueue endpoint would let anyone
start recordings) and with a ``TELNYX_PUBLIC_KEY`` that is not a key; it never reads
``TELNYX_API_KEY``. uvicorn's access log stays off: one line per request is noise at bulk
rates, and the service logs nothing from a request's headers.
"""

from __future__ import annotations

import logging

import kombu
import uvicorn

from confrec.config.settings import REDIS_CONNECT_TIMEOUT_S, Settings
from confrec.service import ServiceParts, create_service
from confrec.service.auth import BearerTokens
from confrec.service.metrics import ServiceMetrics
from confrec.service.signature import WebhookVerifier, load_public_key
from confrec.service.tokens import TokenError
from confrec.tasks.store.api_rate import ApiRateLimit
from confrec.worker.broker.clients import broker_client, state_client
from confrec.worker.producing import create_conferences, create_ledger, create_producer

MISSING_TOKENS = "CONFREC_API_TOKENS is not set; confrec serve needs at least one bearer token"

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


def build_parts(settings: Settings) -> ServiceParts:
    tokens = bearer_tokens(settings)
    tokens.reload_on_sighup()  # in the process that checks the tokens
    verifier = None
    if settings.telnyx_public_key:
        try:
            verifier = WebhookVerifier(load_public_key(settings.telnyx_public_key))
        except ValueError as exc:
            raise ServeConfigError(f"TELNYX_PUBLIC_KEY: {exc}") from None
    state = state_client(settings)
    return ServiceParts(
        producer=create_producer(settings),
        ledger=create_ledger(settings, state),
        conferences=create_conferences(settings, state),
        tokens=tokens,
        verifier=verifier,
        checks={"broker": lambda: _broker_answers(settings), "redis": state.ping},
        metrics=ServiceMetrics(),
        rate_limit=(
            ApiRateLimit(state, settings.api_rate_limit, settings.api_rate_burst)
            if settings.api_rate_limit
            else None
        ),
    )


def _broker_answers(settings: Settings) -> None:
    if settings.broker_is_redis:
        broker_client(settings, socket_timeout=REDIS_CONNECT_TIMEOUT_S).ping()
        return
    with kombu.Connection(settings.broker_url, connect_timeout=REDIS_CONNECT_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1)


def run_serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn finishes requests in flight, bounded)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_service(build_parts(settings))
    if settings.telnyx_public_key is None:
        log.warning("TELNYX_PUBLIC_KEY is not set: /webhooks/telnyx answers 503")
    log.info(
        "confrec serve: broker %s, state %s", settings.safe_broker_url, settings.safe_state_url
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
        log_level="info",
    )
    uvicorn.Server(config).run()
