"""Which web origins may use the server from a browser, and under which names.

HTTP: pages of the origins given with `--cors-origin` (and loopback pages when the server
listens on loopback) may call the API (CORS; Starlette's `CORSMiddleware`). WebSocket: CORS does not apply, any page may open a socket to the server
and the browser sends its `Origin`; so the handshake itself is checked (`OriginPolicy`): no
`Origin` (not a browser: the Python client, curl), one of `--cors-origin`, the server's own
(`Settings.url`), a loopback origin when the server listens on loopback, or a page whose
origin is the very address the browser connected to; anything else is refused with 403
before the socket opens (cross-site WebSocket hijacking).

DNS rebinding: an attacker's page of `http://rebind.example:8000` whose name it then points
at the server's address is same-origin for the browser, and sends `Host` and `Origin` alike,
so "the Origin's host equals Host" proves nothing. A browser's request (HTTP or WebSocket:
one with an `Origin` or a `Sec-Fetch-*` header, which browsers send and scripts cannot
remove) is served only under a `Host` that cannot be rebound: an IP address, `localhost`, or
the host of a configured origin; any other name is answered 403 (`HostGuard`). A server
whose pages are reached through a name (behind a proxy) names it: `--cors-origin
https://app.example`. Other clients (the Python client, services calling
`http://statesync.internal:8000`) carry no such header and are served under any name: DNS
rebinding needs a browser.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ErrorCode

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


def origin_middleware(url: str, origins: Iterable[str]) -> list[Middleware]:
    """The middleware of a server at `url` (`Settings.url`) with these configured origins
    (`--cors-origin`), outermost first: `RefusedOriginLog`, `HostGuard`, then CORS for the
    HTTP API and the browser assets (the configured origins, and loopback origins when the
    server listens on loopback, as for WebSocket handshakes)."""
    policy = OriginPolicy(url, origins)
    cors = [Middleware(CORSMiddleware, allow_origins=sorted(policy.configured),
                       allow_origin_regex=_LOOPBACK_ORIGIN if policy.loopback else None,
                       allow_methods=["*"], allow_headers=["authorization", "content-type"],
                       max_age=600)]
    return [Middleware(RefusedOriginLog, policy=policy), Middleware(HostGuard, policy=policy),
            *(cors if policy.configured or policy.loopback else [])]


_LOOPBACK_ORIGIN = r"https?://(localhost|127(\.[0-9]{1,3}){3}|\[::1\])(:[0-9]{1,5})?"


class RefusedOriginLog:
    """Logs once per origin that a page of an origin the server does not allow asked it
    (HTTP or WebSocket), with the option that allows it: a forgotten `--cors-origin` looks
    like a down server in the browser ("Failed to fetch"), so the server says it."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy
        self.logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if (origin is not None and origin not in self.logged
                    and len(self.logged) < _LOGGED_AT_MOST
                    and not self.policy.origin_allowed(origin, headers.get("host"))):
                self.logged.add(origin)
                log.warning("a page of %s asked this server, which does not allow that origin "
                            "(CORS): start it with `--cors-origin %s` if it should",
                            origin[:200], origin[:200])
        await self.app(scope, receive, send)


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host or "")
    except ValueError:
        return None


def _hostname(netloc: str) -> str | None:
    """The host of `host[:port]` (brackets of an IPv6 address removed), lowercase; None when
    it is not one (a user part, `user@host`, is not a browser's)."""
    if "@" in netloc:
        return None
    try:
        parts = urlsplit(f"//{netloc}")
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    return parts.hostname


def _loopback(host: str | None) -> bool:
    address = _address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


class OriginPolicy:
    """The origins and `Host` names a server at `url` (`Settings.url`, the address it listens
    on) serves, given its configured origins (`--cors-origin`)."""

    def __init__(self, url: str, origins: Iterable[str]) -> None:
        self.configured = {normalize_origin(origin) for origin in origins}
        self.any = ANY in self.configured
        self.allowed = self.configured | {normalize_origin(url)}
        self.hosts = {h for o in self.configured - {ANY}
                      if (h := _hostname(urlsplit(o).netloc))}
        bound = urlsplit(url).hostname
        address = _address(bound)
        self.loopback = _loopback(bound) or (address is not None and address.is_unspecified)
        """Whether the server listens on loopback (its address, or every interface)."""

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Whether a WebSocket handshake with these `Origin` and `Host` headers may proceed."""
        if origin is None or self.any or origin.lower() in self.allowed:
            return True
        netloc = urlsplit(origin).netloc.lower()
        name = _hostname(netloc)
        if name is None:
            return False  # `null` (sandboxed frames, file: pages), or no origin at all
        if self.loopback and _loopback(name):
            return True
        # the page's origin is the address the browser connected to: this server (an address,
        # unlike a name, cannot be pointed elsewhere)
        return _address(name) is not None and netloc == (host or "").lower()

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request may be served under this `Host` header (None: none sent)."""
        if host is None or self.any:
            return True
        name = _hostname(host.lower())
        return name is not None and (name == "localhost" or _address(name) is not None
                                     or name in self.hosts)


def _from_browser(headers: Headers) -> bool:
    """Whether a request comes from a browser: it sends `Origin` (every WebSocket handshake,
    every request but same-origin GET and HEAD) or fetch metadata (`Sec-Fetch-*`, every
    request of current browsers); a page's script can remove neither."""
    return any(name in headers for name in ("origin", "sec-fetch-site", "sec-fetch-mode"))


class HostGuard:
    """ASGI middleware: answers 403 to a browser's HTTP request or WebSocket handshake under
    a `Host` the policy refuses, and to a handshake whose `Origin` it refuses."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        refusal = None
        if _from_browser(headers) and not self.policy.host_allowed(host):
            refusal = (f"this server is not served under the name {host[:100]!r} (add its "
                       f"origin with --cors-origin)")
        elif scope["type"] == "websocket" and not self.policy.origin_allowed(
                headers.get("origin"), host):
            refusal = "pages of this origin may not use this server (--cors-origin)"
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: 403
        else:
            body = {"error": {"code": ErrorCode.FORBIDDEN.value, "message": refusal}}
            await JSONResponse(body, status_code=403)(scope, receive, send)
