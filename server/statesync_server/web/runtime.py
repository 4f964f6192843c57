"""What the transports share: the engine, the authenticator and the settings."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..app import App
from ..auth import Authenticator
from ..engine.engine import Engine
from ..errors import ErrorCode, StatesyncError
from .ratelimit import KeyedLimiter
from ..settings import Settings


@dataclass
class Runtime:
    app: App
    engine: Engine
    auth: Authenticator
    settings: Settings
    creates: KeyedLimiter = field(init=False)
    """Instance creations per subject (`Settings.create_rate` a minute)."""
    sessions: KeyedLimiter = field(init=False)
    """Anonymous sessions per client address (`Settings.session_rate` a minute)."""

    def __post_init__(self) -> None:
        self.creates = KeyedLimiter(self.settings.create_rate / 60, self.settings.create_rate)
        self.sessions = KeyedLimiter(self.settings.session_rate / 60, self.settings.session_rate)

    def check_create_quota(self, claims: Mapping[str, Any]) -> None:
        """Raise `rate-limited` when the subject created too many instances lately."""
        if not self.creates.take(claims["sub"]):
            raise StatesyncError(ErrorCode.RATE_LIMITED,
                                 f"at most {self.settings.create_rate:g} creations a minute")


def require_live(claims: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The caller's claims if it is authenticated with a token not yet expired."""
    if not claims:
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "authenticate first")
    if claims.get("exp", 0) < time.time():
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired")
    return claims
