"""The log filter that masks the API key in messages and tracebacks."""

from __future__ import annotations

import io
import logging

from confrec.worker.redaction import MASK, install, redact

KEY = "KEYsuper-secret-123"


def make_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    install(logger, [KEY, ""])
    return logger, stream


def test_redact_replaces_every_occurrence_and_ignores_empty_secrets() -> None:
    assert redact(f"a {KEY} b {KEY}", [KEY, ""]) == f"a {MASK} b {MASK}"


def test_messages_and_their_arguments_are_masked() -> None:
    logger, stream = make_logger("redaction-args")
    logger.warning("header was %s", f"Bearer {KEY}")
    assert KEY not in stream.getvalue()
    assert f"Bearer {MASK}" in stream.getvalue()


def test_tracebacks_are_masked() -> None:
    logger, stream = make_logger("redaction-traceback")
    try:
        raise ValueError(f"Illegal header value b'Bearer {KEY}'")
    except ValueError:
        logger.exception("request failed")
    output = stream.getvalue()
    assert "ValueError: Illegal header value" in output
    assert KEY not in output
