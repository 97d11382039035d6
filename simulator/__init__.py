"""Local stand-in for the Telnyx ``record_start`` API, with injectable faults.

``create_app()`` builds the aiohttp application (for in-process tests);
``run()`` serves it until SIGINT/SIGTERM (for the CLI and benchmarks).  Fault
prefixes are documented in :mod:`simulator.faults`, request flow in
:mod:`simulator.app`, introspection endpoints in :mod:`simulator.introspect`.
"""

from simulator.app import create_app
from simulator.server import run

__all__ = ["create_app", "run"]
