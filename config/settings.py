"""The one Settings object, read from the environment.

Env names are part of the product contract (PRODUCT.md); knobs that are ours carry the
``CONFREC_`` prefix. The cross-check between the retry deadline and the broker's
visibility timeout lives here so that no process can start with a configuration that
would let Redis redeliver a job that is still running.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from kombu.utils.url import maybe_sanitize_url
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Telnyx ignores a repeated command_id for the same conference for this long (its docs).
TELNYX_DEDUPE_WINDOW_S = 60.0

#: What every entry point of a worker says when it has no key to call Telnyx with.
MISSING_API_KEY = "TELNYX_API_KEY is not set; the worker needs it to call Telnyx"

#: Slack between the longest a job can run and the moment Redis may redeliver it.
VISIBILITY_MARGIN_S = 5.0
#: How often workers sweep for jobs whose worker died (kombu's default is ~100 s, which
#: would push crash redeliveries far past Telnyx's de-duplication window).
RESTORE_INTERVAL_S = 2
#: Lifetime of kombu's restore lock. kombu's default, 300 s, means a worker killed while
#: holding it stops every redelivery for five minutes; the restore itself takes
#: milliseconds and is a WATCH transaction, so two restores at once are still safe.
RESTORE_MUTEX_EXPIRE_S = 5
#: Every Redis client confrec builds gives up on a silent server after these many seconds.
REDIS_CONNECT_TIMEOUT_S = 5.0
REDIS_SOCKET_TIMEOUT_S = 10.0
#: Schemes of a Redis (kombu's Redis transport, or Sentinel in kombu's URL form); any
#: other broker needs CONFREC_REDIS_URL.
REDIS_SCHEMES = ("redis", "rediss", "sentinel")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


class Settings(BaseSettings):
    """Everything a producer or a worker needs; producers never need the API key."""

    model_config = SettingsConfigDict(
        env_prefix="CONFREC_",
        populate_by_name=True,
        extra="ignore",
        env_ignore_empty=True,  # NAME= (config/example.env's blanks) means unset
        hide_input_in_errors=True,  # the input holds the API key and broker passwords
    )

    telnyx_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELNYX_API_KEY", "telnyx_api_key")
    )
    telnyx_base_url: str = Field(
        default="https://api.telnyx.com/v2",
        validation_alias=AliasChoices("TELNYX_BASE_URL", "telnyx_base_url"),
    )
    broker_url: str = Field(default="redis://localhost:6379/0", repr=False)  # may hold a password
    redis_url: str | None = Field(default=None, repr=False)
    """State (ledger, streams, rate limit); defaults to the broker when that is Redis."""
    queue: str = "record_start"
    sentinel_master: str = "mymaster"
    """The Sentinel master name, for ``sentinel://`` broker and state URLs."""
    delivery_limit: int = Field(default=100, ge=1)
    """Redeliveries one job may have before it is published failed, unsent (RabbitMQ:
    also the queue's ``x-delivery-limit``, which dead-letters such a message)."""
    results_stream: str = "confrec:results"
    results_maxlen: int = Field(default=1_000_000, gt=0)
    results_retention_s: int = Field(default=7 * 24 * 3600, gt=0)
    """The results stream keeps outcomes this long (and at most ``results_maxlen``)."""
    rate_limit: float | None = Field(default=None, gt=0)
    rate_burst: int | None = Field(default=None, gt=0)

    retry_max_attempts: int = Field(default=8, ge=1)
    retry_deadline: float = Field(default=25.0, gt=0)
    retry_backoff_initial: float = Field(default=0.5, gt=0)
    retry_backoff_max: float = Field(default=8.0, gt=0)
    http_timeout: float = Field(default=10.0, gt=0)
    http_connect_timeout: float = Field(default=3.0, gt=0)
    visibility_timeout: float = Field(default=45.0, gt=0)
    max_faulty_deliveries: int = Field(default=5, ge=1)
    """Deliveries of one job that may raise before it is published failed."""
    done_ttl: int = Field(default=7 * 24 * 3600, gt=0)

    api_tokens: SecretStr | None = None
    """Bearer tokens ``confrec serve`` accepts on /v1/*, comma-separated: ``token``,
    ``name:token`` or ``name+operator:token`` (docs/security.md)."""
    api_tokens_file: Path | None = None
    """More tokens, one a line (``#`` comments); re-read on change and on SIGHUP."""
    api_rate_limit: float | None = Field(default=None, gt=0)
    """Jobs/s each principal may enqueue through serve (Redis bucket); unset = no limit."""
    api_rate_burst: int | None = Field(default=None, gt=0)
    """Jobs a principal may enqueue at once (default: one second's worth, at least 1)."""
    telnyx_public_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TELNYX_PUBLIC_KEY", "telnyx_public_key")
    )
    """The Telnyx account's Ed25519 public key (base64), for webhook signatures."""
    recordings_stream: str = "confrec:recordings"
    recording_grace_s: float = Field(default=900.0, ge=0)
    """After a conference ended, how long Telnyx has to list a recording before a job on
    it with none is ``not_saved`` (a later webhook still makes it ``saved``)."""
    clock_skew_s: float = Field(default=3.0, ge=0)
    """How far Telnyx's clock may be from the one its ``Date`` header tells: widens each
    job's start window (docs/recordings.md)."""
    reconcile_rate: float = Field(default=5.0, gt=0)
    """Requests/s reconciliation may send to Telnyx, across the fleet, in a bucket of its
    own: it never takes the starts' tokens."""
    reconcile_poll_s: float = Field(default=60.0, gt=0)
    """First look at a conference's status after a start; doubles up to 15 minutes."""
    reconcile_lease_s: float = Field(default=120.0, gt=0)
    """How long a reconciler holds a conference: a killed one's work comes back after it."""

    pool: str = "threads"
    concurrency: int = Field(default=16, ge=1)
    """Threads per worker process (with the threads pool)."""
    worker_processes: int | None = Field(default=None, ge=1, le=1024)
    """Celery worker processes ``confrec worker`` runs; unset: one per CPU it may use
    (threads pool), else 1 (``confrec.worker.supervisor``)."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """``confrec worker`` serves Prometheus metrics at ``/metrics`` on this port."""
    metrics_host: str = "127.0.0.1"
    """The address the worker's metrics listen on (``0.0.0.0``: every interface)."""
    task_events: bool = False
    """Send task events from the start. Off, a worker sends them once a monitor asks
    (Flower does, ``celery events`` does: Celery's ``enable_events``), and saves their
    CPU while nobody watches."""

    # confrec serve against slow and hostile clients (docs/security.md, "serve: the
    # unauthenticated door"): every wait for a client is bounded.
    serve_header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """A request's head (and an idle keep-alive connection's next one) must arrive
    within this, else serve closes the connection."""
    serve_body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """A request's body must arrive whole within this, else 408 and the connection closed."""
    serve_max_connections: int = Field(default=1024, ge=1, le=65_535)
    """Connections serve holds at once (granian's backpressure); more wait in the listen
    backlog until one closes."""
    healthz_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """Each /healthz probe (broker, Redis) answers within this or counts as failed."""

    # bulk --wait (issue 22, H-bulk): when a batch has gone quiet, say why.
    bulk_stall_s: float = Field(default=10.0, gt=0, le=3600)
    """``bulk --wait``: after this long without an outcome of the batch while some of its
    jobs are in flight (or still queued), say once what it waits for (docs/bulk.md)."""
    # GET /v1/events and the browser's session cookie (docs/events.md)
    events_max_clients: int = Field(default=100, ge=1, le=10_000)
    """Event streams serve holds open at once; one more is 503 with Retry-After."""
    events_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    """An idle event stream gets a comment (``: hb``) this often."""
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 24 * 3600)
    """A browser session (``POST /v1/session``) lasts this long from sign-in."""

    @field_validator("telnyx_api_key", "api_tokens", "telnyx_public_key", mode="before")
    @classmethod
    def _blank_key_is_no_key(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _redelivery_after_longest_job(self) -> Settings:
        longest = self.longest_job_s
        if self.visibility_timeout <= longest:
            raise ValueError(
                f"CONFREC_VISIBILITY_TIMEOUT ({self.visibility_timeout:g}s) must exceed the "
                f"longest a job can run: CONFREC_RETRY_DEADLINE + CONFREC_HTTP_TIMEOUT + "
                f"{VISIBILITY_MARGIN_S:g}s margin = {longest:g}s; otherwise Redis would hand a "
                "running job to a second worker"
            )
        return self

    @model_validator(mode="after")
    def _state_needs_redis(self) -> Settings:
        if not self.redis_url and not self.broker_is_redis:
            raise ValueError(
                "CONFREC_REDIS_URL is required when CONFREC_BROKER_URL is not redis:// or "
                "rediss:// (outcomes, the ledger and the rate limit live in Redis)"
            )
        return self

    @property
    def api_token_list(self) -> list[str]:
        """The accepted bearer tokens; blanks between commas are ignored."""
        raw = self.api_tokens.get_secret_value() if self.api_tokens else ""
        return [token.strip() for token in raw.split(",") if token.strip()]

    @property
    def broker_is_redis(self) -> bool:
        return self.broker_url.partition("://")[0].lower() in REDIS_SCHEMES

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.partition("://")[0].lower() in AMQP_SCHEMES

    @property
    def state_is_sentinel(self) -> bool:
        return self.state_url.partition("://")[0].lower() == "sentinel"

    @property
    def broker_is_sentinel(self) -> bool:
        return self.broker_url.partition("://")[0].lower() == "sentinel"

    @property
    def dead_letter_queue(self) -> str:
        """RabbitMQ: where a message past ``delivery_limit`` goes to get its outcome."""
        return f"{self.queue}.dead"

    @property
    def state_url(self) -> str:
        """Where outcomes, the job ledger and the rate limit live."""
        return self.redis_url or self.broker_url

    @property
    def longest_job_s(self) -> float:
        """Upper bound of one delivery: the last attempt may start at the deadline."""
        return self.retry_deadline + self.http_timeout + VISIBILITY_MARGIN_S

    @property
    def longest_redelivery_s(self) -> float:
        """Longest a job whose worker died mid-job waits to be redelivered (some worker
        alive): the visibility timeout, one restore sweep, and the restore lock of a worker
        that died holding it."""
        return self.visibility_timeout + RESTORE_INTERVAL_S + RESTORE_MUTEX_EXPIRE_S

    @property
    def redelivery_within_dedupe_window(self) -> bool:
        """Whether a job whose worker died is redelivered while Telnyx still de-duplicates
        its command_id (assuming some worker is alive to sweep it back)."""
        return self.longest_redelivery_s < TELNYX_DEDUPE_WINDOW_S

    @property
    def safe_broker_url(self) -> str:
        """The broker URL with any password masked, for log lines and messages."""
        return _sanitized(self.broker_url)

    @property
    def safe_state_url(self) -> str:
        return _sanitized(self.state_url)


def _sanitized(url: str) -> str:
    """Each ``;``-separated part masked on its own (a ``sentinel://`` URL has several,
    which kombu's sanitizer cannot parse as one)."""
    return ";".join(str(maybe_sanitize_url(part)) for part in url.split(";"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once from the environment."""
    return Settings()
