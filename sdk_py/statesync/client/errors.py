"""Errors the client raises: server errors by code, rejected events, lost connections."""

from __future__ import annotations

import json
from typing import Any

from ..errors import StatesyncError


class ClientError(StatesyncError):
    """The server answered a request with a structured error (`code`, `message`; `fields`
    for a validation error: each invalid field's `path` and `message`, else None)."""

    def __init__(self, code: str, message: str,
                 fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> ClientError:
        """A server `error` message (or the `error` of an HTTP answer)."""
        return cls(message["code"], message["message"], message.get("fields"))

    @classmethod
    def from_http(cls, status: int, body: bytes | str) -> ClientError:
        """The `{"error": {"code", "message", "fields"?}}` body of a failed HTTP request."""
        try:
            return cls.from_message(json.loads(body)["error"])
        except (ValueError, KeyError, TypeError):
            return cls("internal", f"HTTP {status}")


class Rejected(ClientError):
    """The server rejected an event; the optimistic change was rolled back."""

    def __init__(self, code: str, message: str, event: dict[str, Any], event_id: str,
                 fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(code, message, fields)
        self.event = event
        self.event_id = event_id


class TransportClosed(StatesyncError, ConnectionError):
    """The connection to the server closed or could not be opened."""


class ClientClosed(StatesyncError):
    """The client (or the instance handle) was closed."""
