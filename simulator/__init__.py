"""Local stand-in for the Telnyx ``record_start`` API and its webhooks, with injectable faults.

``create_app()`` builds the Starlette (ASGI) application, served in-process by
``serve_in_thread()`` (tests); ``run()`` serves it with uvicorn until SIGINT/SIGTERM (the
CLI, benchmarks).  Fault prefixes are documented in :mod:`confrec.simulator.faults`,
request flow in :mod:`confrec.simulator.app`, the saved-recording webhooks in
:mod:`confrec.simulator.webhooks`, introspection endpoints in
:mod:`confrec.simulator.introspect`.  ``parse_signing_key`` and ``check_webhook_url``
check the webhook options the way ``run()`` does, for a CLI to report them.
"""

from confrec.simulator.app import SimOptions, create_app
from confrec.simulator.server import run, serve_in_thread
from confrec.simulator.signing import parse_signing_key
from confrec.simulator.webhooks import check_webhook_url

__all__ = [
    "SimOptions",
    "check_webhook_url",
    "create_app",
    "parse_signing_key",
    "run",
    "serve_in_thread",
]
