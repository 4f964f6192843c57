"""Which web origins may use the server from a browser.

HTTP: pages of the origins given with `--cors-origin` may call the API (CORS; Starlette's
`CORSMiddleware`). WebSocket: CORS does not apply, any page may open a socket to the server
and the browser sends its `Origin`; so the handshake itself is checked: no `Origin` (not a
browser: the Python client, curl), the server's own origin, or an allowed one; anything else
is refused with 403 before the socket opens (cross-site WebSocket hijacking).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

ANY = "*"


def normalize_origin(origin: str) -> str:
    """`scheme://host[:port]` as browsers send it (`*` stays `*`); ValueError if it is not one."""
    if origin == ANY:
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def cors_middleware(origins: Iterable[str]) -> list[Middleware]:
    """CORS for the HTTP API and the browser assets, for `origins` (none: no middleware)."""
    allowed = [normalize_origin(origin) for origin in origins]
    if not allowed:
        return []
    return [Middleware(CORSMiddleware, allow_origins=allowed, allow_methods=["*"],
                       allow_headers=["authorization", "content-type"], max_age=600)]


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
