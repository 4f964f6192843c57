"""Checks on what clients send, shared by the WebSocket and HTTP transports: JSON that is not
too deep, holds only signed 64-bit integers and finite numbers; bounded integer parameters;
a request-head limit for uvicorn's httptools parser (which has none of its own).

And the limits of what the database stores, checked before it sees a value so that every
backend refuses the same input with the same structured error (PostgreSQL refuses NUL in text
and over-long strings; SQLite would store them): `MAX_SEQ`, `MAX_INDEXED_STRING`,
`check_text`."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic_core import from_json
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import ErrorCode, StatesyncError

MAX_DEPTH = 64
"""Nesting levels of arrays and objects a message or body may have."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]{1,19}")

MAX_SEQ = 2**31 - 1
"""The largest seq (an instance's transition count): the seq columns are 32-bit integers."""
MAX_INDEXED_STRING = 999
"""Characters of an indexed string value: its key (a type letter and the string) fills at
most the 1,000-character `index_entries.key` column."""
MAX_INDEXED_STRING_BYTES = 2000
"""UTF-8 bytes of an indexed string value: PostgreSQL's B-tree entries are limited to about
2,700 bytes, shared with the machine, index and instance names."""


def invalid(message: str) -> StatesyncError:
    return StatesyncError(ErrorCode.INVALID_MESSAGE, message)


def loads(data: str | bytes) -> Any:
    """Parse client JSON (`invalid-message` when malformed); check it with `check_value`.
    `NaN` and `Infinity` parse here so that `check_value` can refuse them in context."""
    try:
        return from_json(data)
    except ValueError as exc:
        raise invalid(f"malformed JSON: {exc}") from None


def parse_json(data: str | bytes) -> Any:
    """`loads` and `check_value`."""
    value = loads(data)
    check_value(value)
    return value


def check_value(value: Any, depth: int = 1) -> None:
    """Refuse nesting deeper than `MAX_DEPTH`, integers outside signed 64 bits and
    numbers that are not finite (`NaN`, `Infinity`, `1e999`). Exact type checks: `value`
    comes from the JSON parser (and `bool` is not an `int` here)."""
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        _check_number(value, kind)
        return
    if depth > MAX_DEPTH:
        raise invalid(f"JSON is nested more than {MAX_DEPTH} levels deep")
    for item in value:
        kind = type(item)
        if kind is dict or kind is list:
            check_value(item, depth + 1)
        elif kind is not str:
            _check_number(item, kind)


def _check_number(value: Any, kind: type) -> None:
    if kind is int and not INT_MIN <= value <= INT_MAX:
        raise invalid("integers must fit in signed 64 bits")
    if kind is float and not math.isfinite(value):
        raise invalid("numbers must be finite")


def check_text(value: str, what: str, max_chars: int, *, max_bytes: int | None = None,
               code: ErrorCode = ErrorCode.INVALID_MESSAGE) -> str:
    """`value` if the database can store it as text: no NUL character, at most `max_chars`
    characters (and `max_bytes` UTF-8 bytes); else a `code` error naming `what`."""
    if "\x00" in value:
        raise StatesyncError(code, f"{what} may not contain NUL characters")
    if len(value) > max_chars or (max_bytes is not None and len(value) * 4 > max_bytes
                                  and len(value.encode()) > max_bytes):
        limit = f"{max_chars} characters" + (f" ({max_bytes} UTF-8 bytes)" if max_bytes else "")
        raise StatesyncError(code, f"{what} is limited to {limit}")
    return value


MAX_NAME = 200
"""Characters of a machine or instance name (and of a token's `sub`)."""
MAX_SENDER = 2 * MAX_NAME + 1
"""Characters of a logged sender's subject: a token's `sub`, or `machine/instance` of the
instance that sent a message."""
MAX_EVENT_ID = 128


def check_operation(instance: str, event_id: str | None, subject: Any) -> None:
    """An operation's instance name, event id and sender's subject fit their columns, whoever
    made it (a client, a message of another instance, server code)."""
    check_text(instance, "an instance name", MAX_NAME)
    if event_id is not None:
        check_text(event_id, "an event id", MAX_EVENT_ID)
    if isinstance(subject, str):
        check_text(subject, "the sender's subject", MAX_SENDER)


def parse_int(text: str | None, name: str, lo: int, hi: int, default: int | None = None) -> int:
    """A decimal integer parameter within [lo, hi] (`default` when absent)."""
    if text is None and default is not None:
        return default
    if text is None or not _INTEGER.fullmatch(text):
        raise invalid(f"{name} must be an integer")
    value = int(text)
    if not lo <= value <= hi:
        raise invalid(f"{name} must be between {lo} and {hi}")
    return value


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 once a request's line and headers exceed
    `max_head_bytes` (counted per read, so the bound is at most one read above it)."""

    max_head_bytes = 16 * 1024
    _head = 0  # bytes read of the current request's head; -1 once it is complete
    _restarted = False  # a request ended within the read being parsed

    def on_headers_complete(self) -> None:
        self._head = -1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head, self._restarted = 0, True
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        self._restarted = False
        super().data_received(data)
        if self._head >= 0 and not self._restarted and not self.transport.is_closing():
            self._head += len(data)
            if self._head > self.max_head_bytes:
                self._refuse()

    def _refuse(self) -> None:
        message = f"request headers are limited to {self.max_head_bytes} bytes"
        body = json.dumps({"error": {"code": ErrorCode.TOO_LARGE.value, "message": message}})
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body.encode()))
        self.transport.close()
