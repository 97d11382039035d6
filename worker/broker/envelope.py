"""kombu's message envelope on Redis, as a raw producer may have written it.

kombu's virtual transport expects every message on a Redis list to be the JSON envelope
its own producer writes (body, content type, headers, properties with a delivery tag);
anything else raised out of the consumer and stopped the worker. The reliable fetch
fills in what may be missing, and what it still cannot take it sets aside.
"""

from __future__ import annotations

import uuid
from typing import Any

#: Why the reliable fetch sets a message aside (``confrec_messages_set_aside_total``).
SET_ASIDE = "envelope"


class UnreadableBody(bytes):
    """The body of a message whose body kombu could not decode: empty, and why."""

    unreadable = "body cannot be decoded (body_encoding)"


def normalized(payload: Any, queue: str) -> dict[str, Any]:
    """kombu's message envelope, with what a raw producer may leave out filled in, a
    delivery tag of our own (a forged one could overwrite another message's record in
    ``unacked``) and the queue it was fetched from as the one it goes back to if its
    worker dies; ValueError when it is no envelope at all."""
    if not isinstance(payload, dict) or not isinstance(payload.get("headers") or {}, dict):
        raise ValueError("not a message envelope")
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        properties = payload["properties"] = {}
    info = properties.get("delivery_info")
    if not isinstance(info, dict):
        info = properties["delivery_info"] = {}
    info.update(exchange="", routing_key=queue)  # where it came from, whatever it says
    properties["delivery_tag"] = str(uuid.uuid4())
    return payload
