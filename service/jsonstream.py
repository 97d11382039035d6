"""JSON request bodies parsed while they arrive, so that limits hold before a body is in.

ijson's push parser (its ``yajl2_c`` backend when built, else pure Python) turns each chunk
into events; ``JsonStream`` builds values from them without recursion, under a depth
bound, and knows the JSON pointer of the value it is in, so every error names its place.
In ``items`` mode the top level must be an array whose items are handed over one by one as
each completes and are never kept here: a bulk's count limit is met at its first extra item,
not after the whole array was built. Numbers are parsed as floats (``use_float``): a
5,000-digit integer is yajl's overflow error, not Python's digit limit (which the C backend
turns into a ``SystemError``). yajl mangles an escaped lone surrogate (``"\\ud800"`` becomes
``"?"``, ``"\\ud800\\u0041"`` one astral character), so ``_Surrogates`` refuses those escapes
in the raw bytes before yajl sees them, as pydantic refuses lone surrogates itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ijson  # type: ignore[import-untyped]  # no stubs, no py.typed

from confrec.service.errors import ApiError, error, pointer, too_large

#: Deeper than any request confrec takes (a job is 2 levels inside a bulk); stops ``[[[[...``.
MAX_DEPTH = 32
#: Keys and values one item of ``items`` mode may hold: a job has at most 9 fields.
MAX_ITEM_VALUES = 256

_STARTS = {"start_map": dict, "start_array": list}
_ENDS = {"end_map", "end_array"}
#: A ``\\u`` escape of a surrogate, if its backslash starts an escape (an even run before it).
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_ESCAPE_LEN = 6


class _Surrogates:
    """Finds an escaped surrogate that is not half of a pair (high, then low right after)."""

    def __init__(self) -> None:
        self._carry = b""  # the tail that may hold the start of an escape
        self._offset = 0  # where ``_carry`` starts in the body
        self._run = 0  # backslashes right before ``_carry``
        self._low_at = -1  # where a low surrogate must be: just after a high one

    def lone(self, chunk: bytes, final: bool = False) -> bool:
        data = self._carry + chunk
        cut = len(data) if final else max(0, len(data) - _ESCAPE_LEN + 1)
        for match in _SURROGATE.finditer(data, 0, len(data)):
            start = match.start()
            if start >= cut:
                break
            if self._escaped(data, start):
                continue  # the text "\\udXXX" after an escaped backslash
            at = self._offset + start
            if int(match[0][2:], 16) >= 0xDC00:  # low: only right after a high one
                if at != self._low_at:
                    return True
                self._low_at = -1
            elif self._low_at >= 0:
                return True
            else:
                self._low_at = at + _ESCAPE_LEN
        head = data[:cut]
        run = len(head) - len(head.rstrip(b"\\"))
        self._run = run + self._run if run == len(head) else run
        self._carry, self._offset = data[cut:], self._offset + cut
        # a high surrogate whose place for the low one was passed, or is the end
        return 0 <= self._low_at < self._offset or (final and self._low_at >= 0)

    def _escaped(self, data: bytes, start: int) -> bool:
        """Whether the backslash at ``start`` is itself escaped (an odd run before it)."""
        before = start
        while before and data[before - 1] == 0x5C:
            before -= 1
        run = start - before + (self._run if before == 0 else 0)
        return run % 2 == 1


_LONE = "an escaped lone surrogate (\\uD800-\\uDFFF not in a high-low pair): not valid unicode"


class _Root:
    """The top-level array in ``items`` mode: items are counted and handed over, not kept."""


class JsonStream:
    """Feed it chunks, then ``close()``; ``value`` is the document (not in ``items`` mode)."""

    def __init__(
        self, on_item: Callable[[int, Any], None] | None = None, max_items: int = 0
    ) -> None:
        self._on_item = on_item
        self._max_items = max_items
        self._surrogates = _Surrogates()
        self._events = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events, use_float=True)
        self._open: list[dict[str, Any] | list[Any] | _Root] = []
        self._path: list[str | int] = []  # per open container: the key or index being read
        self._item_values = 0
        self._done = False
        self.value: Any = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:  # ijson would take it as the end (Starlette's stream ends with one)
            return
        if self._surrogates.lone(chunk):
            raise self._bad(_LONE)
        self._run(self._parser.send, chunk)

    def close(self) -> None:
        if self._surrogates.lone(b"", final=True):
            raise self._bad(_LONE)
        self._run(lambda _: self._parser.close(), b"")
        if not self._done:
            raise self._bad("the body is empty or incomplete")

    def _run(self, step: Callable[[bytes], object], chunk: bytes) -> None:
        try:
            step(chunk)
        except (ijson.JSONError, ValueError) as exc:
            self._handle()  # the events before the error: they say where it is
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, UnicodeDecodeError):
                reason = "not valid UTF-8 (or an escaped lone surrogate)"
            raise self._bad(f"not JSON: {reason}") from None
        self._handle()

    def _handle(self) -> None:
        for event, value in self._events:
            if event == "map_key":
                self._path[-1] = value
            elif event in _ENDS:
                self._path.pop()
                self._finish(self._open.pop())
            elif event in _STARTS:
                self._begin(event)
                root = self._on_item is not None and not self._open
                self._open.append(_Root() if root else _STARTS[event]())
                self._path.append(0)
            else:
                self._begin(event)
                self._finish(value)
        del self._events[:]

    def _begin(self, event: str) -> None:
        """Checks before a value starts: the root's shape, the item count, the depth."""
        if self._on_item is not None:
            if not self._open:
                if event != "start_array":
                    raise self._bad("the body must be a JSON array")
                return
            if len(self._open) == 1 and self._path[0] == self._max_items:
                raise too_large(f"at most {self._max_items} items")
            self._item_values += 1
            if self._item_values > MAX_ITEM_VALUES:
                where = pointer(*self._path[:1])
                detail = f"{where}: an item may hold at most {MAX_ITEM_VALUES} keys and values"
                raise ApiError(413, error("10015", "Request too large", detail, where))
        if len(self._open) >= MAX_DEPTH:
            raise self._bad(f"nested deeper than {MAX_DEPTH} levels")

    def _finish(self, value: Any) -> None:
        if not self._open:
            self.value, self._done = value, True
            return
        parent = self._open[-1]
        if isinstance(parent, _Root):
            assert self._on_item is not None
            self._item_values = 0
            self._on_item(int(self._path[-1]), value)
            self._path[-1] = int(self._path[-1]) + 1
        elif isinstance(parent, dict):
            parent[str(self._path[-1])] = value
        else:
            parent.append(value)
            self._path[-1] = len(parent)

    def _bad(self, text: str) -> ApiError:
        where = pointer(*self._path)
        return ApiError(400, error("10015", "Bad request", f"{where or 'body'}: {text}", where))
