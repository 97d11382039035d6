"""TelnyxClient and the record_start path (tasks/telnyx.py), against respx-mocked httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
import respx
from pydantic import SecretStr

from confrec.tasks.job import RecordStartJob
from confrec.tasks.policy import classify_exception
from confrec.tasks.telnyx import TelnyxClient, record_start_path

BASE_URL = "https://api.telnyx.test/v2"
API_KEY = "KEYsecret-0123456789"


@pytest.mark.parametrize(
    ("conference_id", "path"),
    [
        ("conf-1", "/conferences/conf-1/actions/record_start"),
        ("a/b#c?d é", "/conferences/a%2Fb%23c%3Fd%20%C3%A9/actions/record_start"),
        ("100%", "/conferences/100%25/actions/record_start"),
        ("a+b", "/conferences/a%2Bb/actions/record_start"),
        ("%2F", "/conferences/%252F/actions/record_start"),
    ],
)
def test_record_start_path_encodes_one_segment(conference_id: str, path: str) -> None:
    assert record_start_path(conference_id) == path
    empty, conferences, segment, actions, record_start = path.split("/")
    assert (empty, conferences, actions, record_start) == (
        "",
        "conferences",
        "actions",
        "record_start",
    )
    assert unquote(segment) == conference_id


@pytest.fixture
def client() -> Iterator[TelnyxClient]:
    client = TelnyxClient(BASE_URL + "/", SecretStr(API_KEY), timeout=7.0, connect_timeout=2.5)
    yield client
    client.close()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


def sent_request(
    router: respx.MockRouter, client: TelnyxClient, job: RecordStartJob
) -> httpx.Request:
    route = router.post(url__startswith=BASE_URL + "/").mock(
        return_value=httpx.Response(200, json={"data": {"result": "ok"}})
    )
    response = client.record_start(job, "cmd-123")
    assert response.status_code == 200
    assert route.call_count == 1
    request: httpx.Request = route.calls.last.request
    return request


@pytest.mark.parametrize("conference_id", ["conf-1", "a/b#c?d é", "100%", "a+b", "%2F"])
def test_record_start_sends_post_to_encoded_path(
    router: respx.MockRouter, client: TelnyxClient, conference_id: str
) -> None:
    request = sent_request(
        router, client, RecordStartJob(conference_id=conference_id, format="wav")
    )
    assert request.method == "POST"
    assert request.url.host == "api.telnyx.test"
    assert request.url.raw_path.decode() == "/v2" + record_start_path(conference_id)


@pytest.mark.parametrize("conference_id", [".", ".."])
def test_dot_segment_conference_id_stays_one_segment(
    router: respx.MockRouter, client: TelnyxClient, conference_id: str
) -> None:
    request = sent_request(
        router, client, RecordStartJob(conference_id=conference_id, format="wav")
    )
    sent = request.url.raw_path.decode()
    segments = [unquote(segment) for segment in sent.split("/")]
    expected = ["", "v2", "conferences", conference_id, "actions", "record_start"]
    assert segments == expected, f"POST went to {sent}"


def test_record_start_headers_and_body(router: respx.MockRouter, client: TelnyxClient) -> None:
    job = RecordStartJob(
        conference_id="conf-1", format="mp3", channels="dual", play_beep=False, region="US"
    )
    request = sent_request(router, client, job)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "format": "mp3",
        "channels": "dual",
        "play_beep": False,
        "region": "US",
        "command_id": "cmd-123",
    }


def test_record_start_body_minimal(router: respx.MockRouter, client: TelnyxClient) -> None:
    request = sent_request(router, client, RecordStartJob(conference_id="c", format="wav"))
    assert json.loads(request.content) == {"format": "wav", "command_id": "cmd-123"}


def test_timeouts_are_explicit(router: respx.MockRouter, client: TelnyxClient) -> None:
    request = sent_request(router, client, RecordStartJob(conference_id="c", format="wav"))
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_api_key_not_in_repr(client: TelnyxClient) -> None:
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(client._transport)


def test_api_key_not_in_transport_error(router: respx.MockRouter, client: TelnyxClient) -> None:
    router.post(url__startswith=BASE_URL + "/").mock(side_effect=httpx.ConnectError)
    with pytest.raises(httpx.ConnectError) as info:
        client.record_start(RecordStartJob(conference_id="conf-1", format="wav"), "cmd-1")
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert classify_exception(info.value).detail == "ConnectError"
