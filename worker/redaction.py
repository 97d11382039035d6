"""Keep secrets out of text: log records, tracebacks, exception messages.

confrec never puts the API key in a message on purpose; this is the belt to those braces,
for text we do not control (a library's exception, a traceback).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and in any traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def install(logger: logging.Logger, secrets: Iterable[str]) -> None:
    """Mask ``secrets`` in everything the handlers of ``logger`` write."""
    redacting = RedactingFilter(secrets)
    for handler in logger.handlers:
        handler.addFilter(redacting)
