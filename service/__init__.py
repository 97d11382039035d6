"""``confrec serve``: the HTTP service — enqueueing for producers that are not Celery
clients, job status, and Telnyx's webhooks.

``create_service(parts)`` builds the ASGI app from parts the runtime hands in
(``confrec.worker.serve`` builds them from the settings), so tests and the CLI run the
same code. It never holds ``TELNYX_API_KEY``.
"""

from confrec.service.app import ServiceParts, create_service

__all__ = ["ServiceParts", "create_service"]
