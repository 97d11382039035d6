"""Local stand-in for the Telnyx ``record_start`` API, with injectable faults.

``create_app()`` builds the aiohttp application (for in-process tests);
``run()`` serves it until SIGINT/SIGTERM (for the CLI and benchmarks).  Fault
prefixes are documented in :mod:`confrec.simulator.faults`, request flow in
:mod:`confrec.simulator.app`, introspection endpoints in :mod:`confrec.simulator.introspect`.
"""

from confrec.simulator.app import create_app
from confrec.simulator.server import run

__all__ = ["create_app", "run"]
