"""TelnyxApi (tasks/telnyx_api.py): the requests it sends and how it reads the answers,
against respx-mocked httpx."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from confrec.tasks.telnyx_api import Page, TelnyxApi, TelnyxApiError

BASE_URL = "https://api.telnyx.test/v2"
API_KEY = "KEYsecret-0123456789"


@pytest.fixture
def api() -> Iterator[TelnyxApi]:
    api = TelnyxApi(BASE_URL + "/", SecretStr(API_KEY), timeout=4.0, connect_timeout=1.5)
    yield api
    api.close()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


def test_list_recordings_sends_the_filters_and_reads_the_page(
    api: TelnyxApi, router: respx.MockRouter
) -> None:
    route = router.get(f"{BASE_URL}/recordings").mock(
        return_value=httpx.Response(
            200,
            json={"data": [{"id": "r1"}, {"id": "r2"}], "meta": {"total_pages": 3}},
        )
    )
    page = api.list_recordings(
        "conf-1",
        region="Middle East",
        created_gte="2026-12-07T10:00:00Z",
        created_lte="2026-12-07T15:00:00Z",
        page=2,
    )
    assert page == Page([{"id": "r1"}, {"id": "r2"}], 3)
    request = route.calls.last.request
    assert dict(request.url.params) == {
        "filter[conference_id]": "conf-1",
        "filter[conference_region]": "Middle East",
        "filter[created_at][gte]": "2026-12-07T10:00:00Z",
        "filter[created_at][lte]": "2026-12-07T15:00:00Z",
        "page[number]": "2",
        "page[size]": "250",
    }
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"] == "application/json"


def test_unset_filters_are_not_sent(api: TelnyxApi, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE_URL}/recordings").mock(
        return_value=httpx.Response(200, json={"data": []})
    )
    assert api.list_recordings(
        "c", region=None, created_gte=None, created_lte=None, page=1
    ) == Page([], 1)
    assert set(route.calls.last.request.url.params) == {
        "filter[conference_id]",
        "page[number]",
        "page[size]",
    }


@pytest.mark.parametrize(
    ("recording_id", "raw_path"),
    [
        ("rec-1", "/v2/recordings/rec-1"),
        ("a/b?c", "/v2/recordings/a%2Fb%3Fc"),
        ("..", "/v2/recordings/%2E%2E"),
    ],
)
def test_get_recording_one_segment(
    api: TelnyxApi, router: respx.MockRouter, recording_id: str, raw_path: str
) -> None:
    route = router.get(url__startswith=f"{BASE_URL}/recordings/").mock(
        return_value=httpx.Response(200, json={"data": {"id": recording_id, "download_urls": {}}})
    )
    assert api.get_recording(recording_id)["id"] == recording_id
    assert route.calls.last.request.url.raw_path.decode() == raw_path


def test_get_conference_with_region_and_none_on_404(
    api: TelnyxApi, router: respx.MockRouter
) -> None:
    route = router.get(f"{BASE_URL}/conferences/c%201").mock(
        return_value=httpx.Response(200, json={"data": {"id": "c 1", "status": "completed"}})
    )
    assert api.get_conference("c 1", region="Europe") == {"id": "c 1", "status": "completed"}
    assert dict(route.calls.last.request.url.params) == {"region": "Europe"}
    router.get(f"{BASE_URL}/conferences/gone").mock(
        return_value=httpx.Response(404, json={"errors": [{"code": "90018", "title": "nf"}]})
    )
    assert api.get_conference("gone", region=None) is None


def test_list_conferences_by_name(api: TelnyxApi, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE_URL}/conferences").mock(
        return_value=httpx.Response(200, json={"data": [{"id": "x", "name": "Room A"}]})
    )
    page = api.list_conferences("Room A", region="US", status="in_progress", page=1)
    assert page.items == [{"id": "x", "name": "Room A"}]
    assert dict(route.calls.last.request.url.params) == {
        "filter[name]": "Room A",
        "filter[status]": "in_progress",
        "region": "US",
        "page[number]": "1",
        "page[size]": "250",
    }


def test_429_carries_retry_after_and_the_code(api: TelnyxApi, router: respx.MockRouter) -> None:
    router.get(f"{BASE_URL}/recordings/r").mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "7"},
            json={"errors": [{"code": "10011", "title": "Too many requests"}]},
        )
    )
    with pytest.raises(TelnyxApiError) as raised:
        api.get_recording("r")
    assert (raised.value.status, raised.value.retry_after) == (429, 7.0)
    assert str(raised.value) == "Telnyx answered 429 (code 10011)"


def test_5xx_and_non_json_are_errors(api: TelnyxApi, router: respx.MockRouter) -> None:
    router.get(f"{BASE_URL}/conferences/a").mock(return_value=httpx.Response(502, text="bad"))
    with pytest.raises(TelnyxApiError) as raised:
        api.get_conference("a", region=None)
    assert (raised.value.status, raised.value.retry_after) == (502, None)
    router.get(f"{BASE_URL}/conferences/b").mock(return_value=httpx.Response(200, text="<html>"))
    with pytest.raises(TelnyxApiError):
        api.get_conference("b", region=None)


def test_transport_errors_pass_through(api: TelnyxApi, router: respx.MockRouter) -> None:
    router.get(f"{BASE_URL}/recordings/r").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(httpx.ConnectTimeout):
        api.get_recording("r")


def test_every_call_has_a_timeout(api: TelnyxApi, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE_URL}/recordings/r").mock(
        return_value=httpx.Response(200, json={"data": {}})
    )
    api.get_recording("r")
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 1.5, "read": 4.0, "write": 4.0, "pool": 4.0}


def test_the_key_is_in_no_error_or_log_line(
    api: TelnyxApi, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router.get(f"{BASE_URL}/recordings/r").mock(return_value=httpx.Response(401, json={}))
    with pytest.raises(TelnyxApiError) as raised:
        api.get_recording("r")
    assert API_KEY not in repr(raised.value) + str(raised.value.__dict__)
    assert API_KEY not in caplog.text
