"""The fixed error vocabulary shared by the WebSocket and HTTP transports."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every error the server reports carries one of these codes."""

    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    ALREADY_EXISTS = "already-exists"
    INVALID_EVENT = "invalid-event"
    EVENT_NOT_ACCEPTED = "event-not-accepted"
    INVALID_MESSAGE = "invalid-message"
    TOO_LARGE = "too-large"
    RATE_LIMITED = "rate-limited"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    """The database is unreachable or full: nothing was applied; retry later."""
    NO_UPGRADE_PATH = "no-upgrade-path"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.INVALID_EVENT: 422,
    ErrorCode.EVENT_NOT_ACCEPTED: 409,
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.NO_UPGRADE_PATH: 409,
}


class StatesyncError(Exception):
    """An error that is reported to the client as `{code, message}`, and `fields` for a
    validation error: `[{"path": [...], "message": ...}]`, each invalid field's path into the
    event payload or creation input (for forms)."""

    def __init__(self, code: ErrorCode, message: str,
                 fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields

    @property
    def http_status(self) -> int:
        """The HTTP status the HTTP API answers with for this error."""
        return HTTP_STATUS[self.code]
