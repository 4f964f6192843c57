"""`statesync serve app.py` and `statesync token --sub alice [--admin]`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn
from sqlalchemy.exc import ArgumentError

from . import dev_reload
from .. import logs
from ..app import App
from .startup_errors import (
    EXIT_USAGE,
    StartupFailureFilter,
    bind_failure,
    check_app_path,
    load_app_or_exit,
)
from ..auth import ADMIN_CLAIM, Authenticator
from .diagram import DIAGRAM_COMMANDS, add_diagram_command
from ..limits import BoundedHttpTools
from ..web.coalesce import CoalescingWebSocketProtocol
from ..web.origins import normalize_origin
from ..web.server import create_asgi_app
from ..store.store import database_refusal
from ..settings import DEFAULT_DATABASE_URL, Settings
from .typegen import generate
from .versions import VERSION_COMMANDS, add_version_commands
from .workflow import WORKFLOW_COMMANDS, add_workflow_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="statesync", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the sync server for an app")
    serve.add_argument("app", help="path/to/app.py[:attr] or package.module[:attr]")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                       help="SQLAlchemy async URL (default: ./statesync.db, SQLite WAL)")
    serve.add_argument("--log-level", default="info", choices=logs.LEVELS, type=str.lower,
                       help="statesync's loggers (debug: a line per transition, timer, effect "
                       "and rejection); other libraries' loggers never go below info")
    serve.add_argument("--log-format", default="text", choices=logs.FORMATS, type=str.lower,
                       help="json: one JSON object per line (docs/operations.md)")
    serve.add_argument("--metrics-token", default=os.environ.get("STATESYNC_METRICS_TOKEN"),
                       help="a bearer secret for GET /metrics besides admin tokens "
                       "(default: $STATESYNC_METRICS_TOKEN)")
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve.add_argument("--rate-limit", type=float, default=Settings.rate_limit,
                       help="messages per second per connection or caller (0: unlimited)")
    serve.add_argument("--max-message-bytes", type=int, default=Settings.max_message_bytes)
    serve.add_argument("--max-header-bytes", type=int, default=Settings.max_header_bytes,
                       help="request line and headers above this are refused (431)")
    serve.add_argument("--cors-origin", action="append", default=[], type=normalize_origin,
                       metavar="ORIGIN", help="let pages of this origin (https://host[:port], "
                       "or *) use the server, also under its host name (browsers' requests "
                       "under other names than addresses and localhost are refused: DNS "
                       "rebinding); repeatable")
    serve.add_argument("--max-inflight", type=int, default=Settings.max_inflight,
                       help="unanswered requests per socket before the server stops reading it")
    serve.add_argument("--auth-timeout", type=float, default=Settings.auth_timeout,
                       help="seconds a WebSocket may stay open without a successful auth")
    serve.add_argument("--create-rate", type=float, default=Settings.create_rate,
                       help="instance creations per minute per subject (0: unlimited)")
    serve.add_argument("--session-rate", type=float, default=Settings.session_rate,
                       help="new anonymous sessions per minute per client address (0: unlimited)")
    serve.add_argument("--ws-compression", action="store_true",
                       help="negotiate permessage-deflate (off: small JSON frames fan out cheaper)")
    serve.add_argument("--cluster-lease", type=float, default=Settings.cluster_lease,
                       help="PostgreSQL: seconds without a heartbeat before other processes "
                            "take over a process's timers and jobs")
    serve.add_argument("--node-id", default=None,
                       help="PostgreSQL: this process's id in the cluster (default: host:port)")
    serve.add_argument("--peer-url", default=None,
                       help="PostgreSQL: the ws:// URL other processes reach this one at "
                            "(default: this server's address; '-': no write forwarding)")
    serve.add_argument("--sqlite-synchronous", default=Settings.sqlite_synchronous,
                       choices=["FULL", "NORMAL"], help="FULL: acked events survive power loss")
    serve.add_argument("--clock", default=Settings.clock, choices=["system", "manual"],
                       help="manual: virtual time for tests and scripts; timers and retries "
                       "wait until an admin advances it (POST /v1/admin/clock)")
    serve.add_argument("--clock-start", type=float, default=None, metavar="EPOCH_SECONDS",
                       help="with --clock manual: its time at start-up (default: now)")
    serve.add_argument("--dev", action="store_true",
                       help="development: restart when the app's .py files change; a changed "
                       "machine keeps or resets its instances instead of stopping the server")
    serve.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)

    token = commands.add_parser("token", help="mint a development token")
    token.add_argument("--sub", required=True, help="the subject (user id)")
    token.add_argument("--claim", action="append", default=[], metavar="KEY=VALUE",
                       help="extra claim; VALUE is parsed as JSON when it can be")
    token.add_argument("--ttl", type=int, default=None, help="seconds until expiry")
    token.add_argument("--admin", action="store_true",
                       help=f"an operator's token ({ADMIN_CLAIM}: true): admin routes, inspector")
    token.add_argument("--app", help="take the key configuration from this app")
    types = commands.add_parser("types", help="write TypeScript types of the app's machines")
    types.add_argument("app", help="path/to/app.py[:attr] or package.module[:attr]")
    types.add_argument("-o", "--output", help="the .d.ts file to write (default: stdout)")
    add_diagram_command(commands)
    add_version_commands(commands)
    add_workflow_commands(commands)
    return parser


def _serve(args: argparse.Namespace) -> None:
    # The event loop and the database threads (aiosqlite's reads; the writer on databases other
    # than SQLite) hand the GIL back and forth; the default 5 ms switch interval showed up
    # directly in their latency.
    sys.setswitchinterval(0.001)
    logs.configure(args.log_level, args.log_format)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # accepted sockets inherit the listener's proto (0 otherwise: Nagle held acks ~20 ms).
    supervising = args.dev and args.listen_fd is None
    app = None if supervising else load_app_or_exit(args.app)  # dev: the children load it
    if args.listen_fd is not None:  # a dev-mode child: the supervisor's socket
        sock = socket.socket(fileno=args.listen_fd)
    else:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            raise bind_failure(args.host, args.port, exc) from None
        sock.listen(2048)  # connections queue from now on, even before uvicorn accepts them
        if supervising:
            check_app_path(args.app)
            sock.set_inheritable(True)
            dev_reload.supervise(_serve_argv(args), sock, args.app)
            return
    host, port = sock.getsockname()[:2]
    settings = Settings(
        database_url=args.database_url,
        url=f"http://{f'[{host}]' if ':' in host else host}:{port}",
        max_message_bytes=args.max_message_bytes,
        max_header_bytes=args.max_header_bytes,
        max_inflight=args.max_inflight,
        auth_timeout=args.auth_timeout,
        create_rate=args.create_rate,
        session_rate=args.session_rate,
        cors_origins=tuple(args.cors_origin),
        rate_limit=args.rate_limit,
        rate_burst=max(2 * args.rate_limit, 1),
        sqlite_synchronous=args.sqlite_synchronous,
        clock=args.clock,
        clock_start=args.clock_start,
        dev=args.dev,
        cluster_lease=args.cluster_lease,
        node_id=args.node_id,
        peer_url=args.peer_url,
        metrics_token=args.metrics_token or None,
    )
    try:
        asgi = create_asgi_app(app, settings)
    except ArgumentError as exc:  # the database URL is malformed
        raise fail(database_refusal(exc, settings.database_url) or str(exc)) from None
    config = uvicorn.Config(
        asgi,
        log_config=None,
        log_level="info" if args.log_level == "debug" else args.log_level,
        access_log=args.access_log,
        http=type("BoundedHttpTools", (BoundedHttpTools,),
                  {"max_head_bytes": settings.max_header_bytes}),
        ws=CoalescingWebSocketProtocol,  # frames joined per loop turn (web/coalesce.py)
        ws_max_size=max(4 * settings.max_message_bytes, 1 << 20),
        ws_per_message_deflate=args.ws_compression,
        lifespan="on",
        backlog=2048,
    )
    refusal = StartupFailureFilter()
    logging.getLogger("uvicorn.error").addFilter(refusal)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a graceful shutdown
        pass
    except SystemExit:  # uvicorn's exit after a failed start-up
        if server.started or not (refusal.refused or getattr(asgi.state, "refused", False)):
            raise
        raise SystemExit(EXIT_USAGE) from None  # refused: the reason is logged above


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """The `serve` command line that `args` came from (for dev mode's child processes)."""
    return list(args.argv[args.argv.index("serve"):])


def _claim(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--claim expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _token(args: argparse.Namespace) -> None:
    app = load_app_or_exit(args.app) if args.app else App()
    claims = dict(_claim(c) for c in args.claim)
    if args.admin:
        claims[ADMIN_CLAIM] = True
    print(Authenticator(app.auth).mint(args.sub, claims, args.ttl))


def _types(args: argparse.Namespace) -> None:
    text = generate(load_app_or_exit(args.app), source=args.app)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    {"serve": _serve, "token": _token, "types": _types, **DIAGRAM_COMMANDS, **VERSION_COMMANDS,
     **WORKFLOW_COMMANDS}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
