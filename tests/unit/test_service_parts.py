"""The HTTP service's pure parts: Telnyx's signature rule, bearer tokens, error pointers."""

from __future__ import annotations

import base64

import pytest
from nacl.signing import SigningKey
from pydantic import ValidationError

from confrec.service.auth import BearerTokens
from confrec.service.errors import ApiError, pointer, validation_errors
from confrec.service.signature import SignatureError, WebhookVerifier, load_public_key
from confrec.tasks.job import RecordStartJob

NOW = 1_800_000_000
BODY = b'{"data": {"id": "e1", "event_type": "conference.recording.saved"}}'
KEY = SigningKey(b"\x01" * 32)


def signed(body: bytes, timestamp: int, key: SigningKey = KEY) -> tuple[str, str]:
    signature = key.sign(f"{timestamp}|".encode() + body).signature
    return str(timestamp), base64.b64encode(signature).decode()


def verifier() -> WebhookVerifier:
    public = base64.b64encode(bytes(KEY.verify_key)).decode()
    return WebhookVerifier(load_public_key(public), clock=lambda: NOW)


def test_a_body_signed_with_the_account_key_just_now_verifies() -> None:
    verifier().verify(*signed(BODY, NOW), BODY)
    verifier().verify(*signed(BODY, NOW - 300), BODY)  # the tolerance is inclusive
    verifier().verify(*signed(BODY, NOW + 300), BODY)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "why"),
    [
        (*signed(BODY, NOW), BODY + b" ", "does not match"),  # tampered body
        (*signed(BODY, NOW, SigningKey(b"\x02" * 32)), BODY, "does not match"),  # other key
        (str(NOW), signed(BODY, NOW - 1)[1], BODY, "does not match"),  # timestamp swapped
        (*signed(BODY, NOW - 301), BODY, "more than 300 s"),  # stale
        (*signed(BODY, NOW + 301), BODY, "more than 300 s"),  # from the future
        (None, signed(BODY, NOW)[1], BODY, "are required"),
        (str(NOW), None, BODY, "are required"),
        ("soon", signed(BODY, NOW)[1], BODY, "not Unix seconds"),
        (str(NOW), "***not base64***", BODY, "does not match"),
        (str(NOW), base64.b64encode(b"short").decode(), BODY, "does not match"),
    ],
)
def test_anything_else_is_refused_with_the_reason(
    timestamp: str | None, signature: str | None, body: bytes, why: str
) -> None:
    with pytest.raises(SignatureError, match=why):
        verifier().verify(timestamp, signature, body)


@pytest.mark.parametrize(
    ("key", "why"),
    [("not base64!", "not base64"), (base64.b64encode(b"x" * 31).decode(), "31")],
)
def test_a_public_key_that_is_not_one_is_refused(key: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        load_public_key(key)


def test_any_configured_token_passes_and_nothing_else() -> None:
    tokens = BearerTokens("alpha-token, beta-token")
    assert tokens.principal("alpha-token") and tokens.principal("beta-token")
    for wrong in ("", "alpha", "alpha-token ", "ALPHA-TOKEN", "gamma-token"):
        assert tokens.principal(wrong) is None
    with pytest.raises(ValueError):
        BearerTokens(" , ")


def test_pointers_follow_rfc_6901() -> None:
    assert pointer() == ""
    assert pointer(2, "format") == "/2/format"
    assert pointer("a/b", "c~d") == "/a~1b/c~0d"


def test_every_problem_of_a_job_gets_its_own_error_and_pointer() -> None:
    with pytest.raises(ValidationError) as caught:
        RecordStartJob.model_validate({"format": "ogg", "bogus": 1, "channels": "dual"})
    errors = validation_errors(caught.value, 7)
    by_pointer = {e["source"]["pointer"]: e for e in errors}
    assert set(by_pointer) == {"/7/conference_id", "/7/format", "/7/bogus"}
    assert by_pointer["/7/conference_id"]["code"] == "10004"  # missing
    assert by_pointer["/7/format"]["code"] == "10032"  # not one of the enum
    assert all({"code", "title", "detail"} <= set(e) for e in errors)
    assert str(ApiError(422, *errors)) == errors[0]["detail"]
