"""The ASGI application: routes, lifespan (engine start/stop) and the startup summary."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute

from .admin_http import routes as admin_routes
from ..app import App
from ..auth import Authenticator
from ..builtin import register_builtins
from ..workflow.clock import make_clock
from .clock_http import routes as clock_routes
from ..engine.cursors import CursorSealer
from ..engine.engine import Engine
from ..engine.peers import PATH, PeerKey, Peers
from .http import routes as http_routes
from .http import starlette_error
from .http_metrics import routes as metrics_routes
from .http_queries import routes as query_routes
from .inspector_web import routes as inspector_routes
from .origins import origin_middleware
from .ratelimit import KeyedLimiter
from .runtime import Runtime
from ..settings import Settings
from ..store import Store
from ..store.store import database_refusal
from ..engine.versions import StartupError
from .assets import web_routes
from .peer_ws import peer_endpoint
from .ws import SyncSocket

log = logging.getLogger("statesync")


def create_asgi_app(app: App, settings: Settings | None = None) -> Starlette:
    """The ASGI app serving `app`: WebSocket at `/v1/ws`, HTTP under `/v1/`, the browser SDK
    under `/statesync/` and the app's pages (`App.static_dir`) at `/`."""
    settings = settings or Settings()
    register_builtins(app)  # e.g. `statesync.settings`: user settings with no server code
    store = Store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    engine = Engine(app, store, cache_size=settings.cache_size, clock=make_clock(settings.clock, settings.clock_start),
                    cluster_lease=settings.cluster_lease,
                    node_id=settings.node_id or _node_id(settings.url))
    engine.dev = settings.dev
    runtime = Runtime(app, engine, Authenticator(app.auth), settings)
    engine.cursors = CursorSealer.from_secret(runtime.auth.key_material())
    engine.peers = _peers(settings, runtime.auth.key_material())

    @contextlib.asynccontextmanager
    async def lifespan(asgi: Starlette) -> AsyncIterator[None]:
        try:
            await engine.start()
        except StartupError:  # the app and the database disagree: logged, in words
            asgi.state.refused = True
            raise
        except Exception as exc:
            reason = database_refusal(exc, settings.database_url)
            if reason is None:  # a bug: its traceback is wanted
                raise
            log.error("statesync cannot start: %s", reason)
            asgi.state.refused = True
            raise StartupError(reason) from None
        # the clock the CLI's views of this database count from (None: the wall clock)
        await engine.store.record_clock(engine.clock.time() if engine.clock.manual else None)
        await _log_summary(runtime)
        gc.freeze()  # keep the long-lived startup objects out of every full collection
        try:
            yield
        finally:
            await engine.stop()
            log.info("statesync stopped")

    browser = web_routes({name: spec.machine for name, spec in app.machines.items()},
                         app.browser_module, static_dir=app.static_dir)
    asgi = Starlette(
        routes=[*http_routes, *query_routes, *clock_routes, *metrics_routes, *admin_routes, *inspector_routes,
                WebSocketRoute(PATH, peer_endpoint), *browser],
        lifespan=lifespan,
        middleware=[*origin_middleware(settings.url, settings.cors_origins),
                    Middleware(SyncSocket, runtime=runtime)],
        exception_handlers={HTTPException: starlette_error, Exception: starlette_error},
    )
    asgi.state.runtime = runtime
    asgi.state.http_limiter = KeyedLimiter(settings.rate_limit, settings.rate_burst)
    return asgi


async def _log_summary(runtime: Runtime) -> None:
    settings = runtime.settings
    counts = await runtime.engine.store.instance_counts()
    ws_url = settings.url.replace("http", "ws", 1) + "/v1/ws"
    store = runtime.engine.store
    database = store.url.render_as_string(hide_password=True)
    if store.is_sqlite:
        database += f" (WAL, synchronous={settings.sqlite_synchronous})"
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # uvloop or asyncio
    log.info("statesync serving %s (WebSocket %s, %s event loop)", settings.url, ws_url, loop)
    log.info("database: %s", database)
    machines = ", ".join(f"{name} v{spec.version} ({_instances(counts.get(name, {}), spec.version)})"
                         for name, spec in runtime.app.machines.items())
    log.info("machines: %s", machines or "none registered")
    anonymous = "on" if runtime.app.anonymous_sessions else "off"
    log.info("auth: %s; anonymous sessions %s", runtime.auth.source, anonymous)
    if runtime.engine.clock.manual:
        log.info("clock: manual (virtual time at %.0f; advance it with POST /v1/admin/clock)",
                 runtime.engine.clock.time())


def _instances(by_version: dict[str, int], current: str) -> str:
    """`3 instances`, all on the current version; else `5 instances: 2 on v2, 3 on v1`."""
    total = sum(by_version.values())
    if set(by_version) <= {current}:
        return f"{total} instances"
    ordered = sorted(by_version.items(), key=lambda item: (item[0] != current, item[0]))
    return f"{total} instances: " + ", ".join(f"{n} on v{v}" for v, n in ordered)


def _peers(settings: Settings, key_material: bytes | None) -> Peers | None:
    """Write forwarding to instance owners (PostgreSQL only): keyed by STATESYNC_CLUSTER_SECRET,
    else by the token key every process of a cluster shares; off without either."""
    if settings.database_url.startswith("sqlite") or settings.peer_url == "-":
        return None
    secret = os.environ.get("STATESYNC_CLUSTER_SECRET", "").encode() or key_material
    if not secret:
        log.warning("cluster: no STATESYNC_CLUSTER_SECRET and no signing key: writes are not "
                    "forwarded to instance owners (shared instances cost more)")
        return None
    address = settings.peer_url or settings.url.replace("http", "ws", 1) + PATH
    return Peers(address, PeerKey(secret), timeout=max(2 * settings.cluster_lease, 5.0))


def _node_id(url: str) -> str:
    """This process's cluster id: host name and port, the same after a restart."""
    return f"{socket.gethostname()[:48]}:{url.rsplit(':', 1)[-1]}"
