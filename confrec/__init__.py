"""confrec: a Celery worker fleet that starts Telnyx conference recordings reliably.

Everything importable lives under this name. The subpackages are the repository's
top-level folders of the design (linked here, so the source tree keeps its shape):

- ``confrec.config``: settings from the environment;
- ``confrec.tasks``: the domain: job model, Telnyx transport, retry policy, publishing, and
  every Redis structure (``tasks.store``);
- ``confrec.service``: the HTTP service of ``confrec serve``;
- ``confrec.worker``: the runtime: Celery app, broker extension, batch tools, local stacks, CLI;
- ``confrec.simulator``: a Telnyx stand-in for demos, tests and benchmarks.
"""
