"""What the transports share: the engine, the authenticator and the settings."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .app import App
from .auth import Authenticator
from .engine import Engine
from .errors import ErrorCode, StatesyncError
from .settings import Settings


@dataclass
class Runtime:
    app: App
    engine: Engine
    auth: Authenticator
    settings: Settings


def require_live(claims: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The caller's claims if it is authenticated with a token not yet expired."""
    if not claims:
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "authenticate first")
    if claims.get("exp", 0) < time.time():
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired")
    return claims
