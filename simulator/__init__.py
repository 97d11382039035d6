"""Local stand-in for Telnyx: ``record_start``, its webhooks (``conference.recording.saved``,
``conference.ended``), the recording and conference read calls, and the recording files
behind expiring links, with injectable faults.

``create_app()`` builds the Starlette (ASGI) application, served in-process by
``serve_in_thread()`` (tests); ``run()`` serves it with uvicorn until SIGINT/SIGTERM (the
CLI, benchmarks).  Fault prefixes are documented in :mod:`confrec.simulator.faults`,
request flow in :mod:`confrec.simulator.app`, conferences in
:mod:`confrec.simulator.conferences`, the read calls in :mod:`confrec.simulator.listing`, files
in :mod:`confrec.simulator.files`, the webhooks in
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
