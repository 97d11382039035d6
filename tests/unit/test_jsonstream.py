"""JSON bodies parsed while they arrive (service/jsonstream.py, service/bulk.py): the values
json.loads would give, in any chunking; every bad body a 400/413/422 with a pointer, never
an exception of the parser's own; a bulk's limits met at the item that passes them."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from confrec.service.bodies import parse_json
from confrec.service.bulk import MAX_BULK_JOBS, MAX_PROBLEMS, read_bulk
from confrec.service.errors import ApiError
from confrec.service.jsonstream import MAX_DEPTH, MAX_ITEM_VALUES, JsonStream
from confrec.tasks.job import RecordStartJob

GOOD = {"conference_id": "c", "format": "wav"}


def chunked(raw: bytes, size: int) -> list[bytes]:
    """As Starlette's ``request.stream()`` gives a body: its chunks, then an empty one."""
    return [raw[i : i + size] for i in range(0, len(raw), size)] + [b""]


def parsed(raw: bytes, size: int = 7) -> Any:
    stream = JsonStream()
    for chunk in chunked(raw, size):
        stream.feed(chunk)
    stream.close()
    return stream.value


def refused(raw: bytes, size: int = 7) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as info:
        parsed(raw, size)
    (err,) = info.value.errors
    return info.value.status, err["source"]["pointer"], err["detail"]


def bulk(raw: bytes, size: int = 4096) -> list[RecordStartJob]:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in chunked(raw, size):
            yield chunk

    return asyncio.run(read_bulk(chunks()))


def bulk_refused(raw: bytes, size: int = 4096) -> ApiError:
    with pytest.raises(ApiError) as info:
        bulk(raw, size)
    return info.value


@pytest.mark.parametrize("size", [1, 3, 64, 1 << 20])
def test_values_are_what_json_loads_gives_in_any_chunking(size: int) -> None:
    doc = {"a": [1, -2.5, None, True, False, 'x\\"é\u00e9\U0001f600'], "b": {"c": {}, "d": []}}
    for raw in (json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False).encode()):
        assert parsed(raw, size) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "where", "says"),
    [
        (b"[" * 16_000, "/0" * MAX_DEPTH, f"nested deeper than {MAX_DEPTH} levels"),
        (b'{"a": [{"b": ' + b"[" * 40, "/a/0/b" + "/0" * (MAX_DEPTH - 3), "nested deeper"),
        (b'{"play_beep": 1' + b"0" * 5_000 + b"}", "/play_beep", "not JSON"),
        (b'{"x": 1.5e99999}', "/x", "not JSON"),
        (b'{"a": "\\ud800"}', "", "lone surrogate"),
        (b'{"a": 1', "/a", "not JSON"),
        (b"", "", "not JSON"),
        (b'{"a": 1} {"b": 2}', "", "not JSON"),
        (b'{"a": "\xff"}', "/a", "not JSON"),
    ],
)
def test_bad_documents_are_a_400_with_a_pointer(raw: bytes, where: str, says: str) -> None:
    status, pointer, detail = refused(raw)
    assert (status, pointer) == (400, where)
    assert says in detail and detail.startswith(where or "body")


def test_lone_surrogate_escapes_are_refused_and_pairs_kept_in_any_chunking() -> None:
    """yajl turns "\\ud800" into "?" and "\\ud800\\u0041" into one astral character; the
    raw-byte check refuses exactly the strings json.loads would give a lone surrogate."""
    rnd = random.Random(21)
    pieces = ["a", "\\", '"', "\n", "\ud800", "\udc00", "\U0001f600", "é", "\x00"]
    for _ in range(1_500):
        raw = json.dumps(["".join(rnd.choices(pieces, k=rnd.randint(0, 10)))]).encode()
        expected = json.loads(raw)
        lone = any(0xD800 <= ord(ch) <= 0xDFFF for ch in expected[0])
        for size in (1, 5, 64):
            if lone:
                assert "lone surrogate" in refused(raw, size)[2], raw
            else:
                assert parsed(raw, size) == expected, raw


def test_a_bulk_is_validated_item_by_item_with_pointers() -> None:
    raw = json.dumps([GOOD, 5, {**GOOD, "format": "ogg"}, {**GOOD, "play_beep": "yes"}])
    exc = bulk_refused(raw.encode(), size=3)
    assert exc.status == 422
    assert [e["source"]["pointer"] for e in exc.errors] == ["/1", "/2/format", "/3/play_beep"]
    assert bulk(json.dumps([GOOD, {**GOOD, "play_beep": True}]).encode(), size=5) == [
        RecordStartJob(conference_id="c", format="wav"),
        RecordStartJob(conference_id="c", format="wav", play_beep=True),
    ]


def test_the_item_past_the_limit_is_a_413_before_the_rest_is_read() -> None:
    """The 10,001st item's first byte ends the request: what follows is never fed."""
    head = b"[" + b"{}," * MAX_BULK_JOBS + b"{}"
    fed: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in chunked(head, 1024):
            fed.append(len(chunk))
            yield chunk
        fed.append(-1)  # the rest of a 31 MiB body
        yield b",{}" * 10_000_000

    with pytest.raises(ApiError) as info:
        asyncio.run(read_bulk(chunks()))
    assert info.value.status == 413 and -1 not in fed


def test_an_item_with_too_many_values_is_a_413_at_that_item() -> None:
    raw = json.dumps([GOOD, {"x": list(range(MAX_ITEM_VALUES))}]).encode()
    exc = bulk_refused(raw)
    assert exc.status == 413 and exc.errors[0]["source"]["pointer"] == "/1"


def test_problems_listed_are_bounded_and_the_rest_counted() -> None:
    raw = json.dumps([{"format": "ogg"}] * 5_000).encode()  # 2 problems each
    exc = bulk_refused(raw)
    assert exc.status == 422 and len(exc.errors) == MAX_PROBLEMS + 1
    assert exc.errors[-1]["detail"].startswith(f"{10_000 - MAX_PROBLEMS} more problems")


@pytest.mark.parametrize(
    ("raw", "status"), [(b"[]", 422), (b"{}", 400), (b"5", 400), (b"[{}", 400), (b"[1] [", 400)]
)
def test_a_bulk_that_is_not_an_array_of_jobs(raw: bytes, status: int) -> None:
    assert bulk_refused(raw).status == status


def test_the_single_body_parser_refuses_what_json_loads_would_crash_on() -> None:
    for raw in (b"[" * 16_000, b"1" * 5_000):
        with pytest.raises(ApiError) as info:
            parse_json(raw)
        assert info.value.status == 400
