"""confrec: a Celery worker fleet that starts Telnyx conference recordings reliably.

Everything importable lives under this name. The subpackages are the repository's
top-level folders of the design (linked here, so the source tree keeps its shape):

- ``confrec.config``: settings from the environment and every Redis key name;
- ``confrec.tasks``: the domain: job model, Telnyx transport, retry policy, persistence;
- ``confrec.worker``: the runtime: Celery app, broker transport, CLI;
- ``confrec.simulator``: a Telnyx stand-in for demos, tests and benchmarks.
"""
