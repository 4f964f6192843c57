"""Which web origins may use the server from a browser.

HTTP: pages of the origins given with `--cors-origin` may call the API (CORS; Starlette's
`CORSMiddleware`). WebSocket: CORS does not apply, any page may open a socket to the server
and the browser sends its `Origin`; so the handshake itself is checked: no `Origin` (not a
browser: the Python client, curl), the server's own origin, or an allowed one; anything else
is refused with 403 before the socket opens (cross-site WebSocket hijacking).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ANY = "*"
_LOGGED_AT_MOST = 1000  # refused origins named in the log (hostile clients send any)

log = logging.getLogger("statesync")


def normalize_origin(origin: str) -> str:
    """`scheme://host[:port]` as browsers send it (`*` stays `*`); ValueError if it is not one."""
    if origin == ANY:
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def cors_middleware(origins: Iterable[str]) -> list[Middleware]:
    """CORS for the HTTP API and the browser assets, for `origins`, and a log line naming
    each other origin a browser came from (once)."""
    allowed = [normalize_origin(origin) for origin in origins]
    named = [Middleware(RefusedOriginLog, origins=allowed)]
    if not allowed:
        return named
    return [*named, Middleware(CORSMiddleware, allow_origins=allowed, allow_methods=["*"],
                               allow_headers=["authorization", "content-type"], max_age=600)]


class RefusedOriginLog:
    """Logs once per origin that a page of an origin the server does not allow asked it
    (HTTP or WebSocket), with the option that allows it: a forgotten `--cors-origin` looks
    like a down server in the browser ("Failed to fetch"), so the server says it."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = list(origins)
        self.logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if (origin is not None and origin not in self.logged
                    and len(self.logged) < _LOGGED_AT_MOST
                    and not websocket_origin_allowed(headers, self.origins)):
                self.logged.add(origin)
                log.warning("a page of %s asked this server, which does not allow that origin "
                            "(CORS): start it with `--cors-origin %s` if it should",
                            origin[:200], origin[:200])
        await self.app(scope, receive, send)


def websocket_origin_allowed(headers: Headers, origins: Iterable[str]) -> bool:
    """Whether a WebSocket handshake may proceed: no `Origin`, the server's own (its host is
    the `Host` the browser connected to), or one of `origins`."""
    origin = headers.get("origin")
    if origin is None:
        return True
    allowed = {normalize_origin(o) for o in origins}
    if ANY in allowed or origin.lower() in allowed:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()
