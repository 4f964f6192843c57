"""Token providers: anonymous sessions for apps without a login."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .transport import Transport, default_transport

TokenSource = str | Callable[[], str | Awaitable[str]]
"""A token, or a (sync or async) function returning a fresh one."""


class AnonymousSession:
    """Asks the server for an anonymous session (`POST /v1/session`) and keeps its token.

    Called as a token provider: returns the kept token while it is valid for more than
    `margin` seconds, else asks for a new one (presenting the old one, so a server that renews
    sessions keeps the same subject). Pass a saved `token` to resume a session; `on_token`
    receives `{"token", "sub", "exp"}` whenever a new one is issued (to persist it).
    """

    def __init__(self, url: str, *, token: str | None = None, transport: Transport | None = None,
                 on_token: Callable[[dict[str, Any]], Any] | None = None,
                 margin: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/v1/session"
        self.transport = transport or default_transport()
        self.on_token = on_token
        self.margin = margin
        self.token = token
        self.exp = token_expiry(token) if token else 0.0

    async def __call__(self) -> str:
        now = time.time()
        if self.token is not None and self.exp - now > self.margin:
            return self.token
        current = self.token if self.token is not None and self.exp > now else None
        session = await self.transport.post_json(self.url, current)
        self.token, self.exp = session["token"], float(session["exp"])
        if self.on_token is not None:
            self.on_token(session)
        return self.token


def token_claims(token: Any) -> dict[str, Any]:
    """The claims of a JWT, read without verifying them (the server verifies; the client uses
    them only for its own predictions). `{}` when it is not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError, AttributeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str) -> float:
    """The `exp` claim of a JWT, read without verifying it (0 when there is none)."""
    try:
        return float(token_claims(token).get("exp", 0))
    except (ValueError, TypeError):
        return 0.0
