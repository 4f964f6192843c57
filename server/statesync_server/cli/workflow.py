"""`statesync timers` and `statesync effects`: the operator's view of pending and failed work,
and `statesync effects retry|dismiss KEY`: act on failed work through a running server's
admin API (failed_work.py).

Both read the database directly (a running server is not needed; SQLite WAL lets them read
while it writes). Times count from the server's clock: the virtual time a server on a manual
clock recorded (`--clock manual`), else the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy import create_engine, func, select

from ..durations import human_duration
from ..settings import DEFAULT_DATABASE_URL
from ..store.migrate import migrate
from ..store.schema import outbox, server_clock, timers
from ..store.store import sync_url


def add_workflow_commands(commands: Any) -> None:
    t = commands.add_parser("timers", help="list pending durable timers, soonest first")
    e = commands.add_parser("effects",
                            help="list pending and failed effects, services and messages")
    for parser in (t, e):
        parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
        parser.add_argument("--machine", help="only this machine")
        parser.add_argument("--instance", help="only this instance")
        parser.add_argument("--limit", type=int, default=100)
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
    e.add_argument("action", nargs="?", choices=["retry", "dismiss"],
                   help="retry a failed effect, or dismiss a failed effect or service (KEY "
                   "as listed: machine/instance/seq/idx), through the server at --url")
    e.add_argument("key", nargs="?", help="the effect's key, for retry and dismiss")
    e.add_argument("--url", default="http://127.0.0.1:8000",
                   help="the running server, for retry and dismiss")
    e.add_argument("--token", default=os.environ.get("STATESYNC_ADMIN_TOKEN"),
                   help="an admin token ($STATESYNC_ADMIN_TOKEN; default: minted like "
                   "`statesync token --admin`)")
    e.add_argument("--failed", action="store_true", help="only failed work")
    e.add_argument("--all", action="store_true", help="also finished work (done, cancelled, ...)")


def _connect(url: str) -> Any:
    engine = create_engine(sync_url(url))
    migrate(engine)
    return engine


def _filter(query: Any, table: Any, args: argparse.Namespace) -> Any:
    if args.machine:
        query = query.where(table.c.machine == args.machine)
    if args.instance:
        query = query.where(table.c.instance == args.instance)
    return query


def _print(rows: list[dict[str, Any]], columns: list[str], as_json: bool, total: int) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    table = [[str(row.get(c, "")) if row.get(c) is not None else "" for c in columns] for row in rows]
    widths = [min(max([len(c), *(len(r[i]) for r in table)]), 60) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in table:
        print("  ".join(v[:60].ljust(w) for v, w in zip(r, widths)).rstrip())
    shown = len(rows)
    print(f"({shown} of {total} shown)" if total > shown else f"({total} total)")


def _now(conn: Any) -> float:
    """The server's time: its manual clock's, when it recorded one, else the wall clock's."""
    virtual = conn.execute(select(server_clock.c.now)).scalar()
    return time.time() if virtual is None else virtual


def _in(seconds: float) -> str:
    """`+7d 2h` (from now), `-5s` (past)."""
    return ("+" if seconds >= 0 else "") + human_duration(seconds)


def timers_command(args: argparse.Namespace) -> None:
    engine = _connect(args.database_url)
    with engine.connect() as conn:
        now = _now(conn)
        query = _filter(select(timers), timers, args)
        total = conn.execute(_filter(select(func.count()).select_from(timers), timers, args)).scalar()
        rows = conn.execute(query.order_by(timers.c.due).limit(args.limit)).all()
    out = [{
        "machine": r.machine, "instance": r.instance, "timer": r.timer_id,
        "event": json.loads(r.event)["type"], "due": _when(r.due),
        "in": _in(r.due - now), "started_at_seq": r.seq,
    } for r in rows]
    _print(out, ["machine", "instance", "timer", "event", "due", "in", "started_at_seq"],
           args.json, total or 0)


def effects_command(args: argparse.Namespace) -> None:
    if args.action:
        act_on_work(args)
        return
    engine = _connect(args.database_url)
    with engine.connect() as conn:
        now = _now(conn)
        query = _filter(select(outbox), outbox, args)
        count = _filter(select(func.count()).select_from(outbox), outbox, args)
        if args.failed:
            query, count = (q.where(outbox.c.status == "failed") for q in (query, count))
        elif not args.all:
            states = ("pending", "failed")
            query, count = (q.where(outbox.c.status.in_(states)) for q in (query, count))
        total = conn.execute(count).scalar()
        rows = conn.execute(query.order_by(outbox.c.created_at, outbox.c.seq, outbox.c.idx)
                            .limit(args.limit)).all()
    out = []
    for r in rows:
        target = r.target or ""
        if r.kind in ("message", "create"):
            target = f"{r.name}/{r.target}"
        out.append({
            "key": f"{r.machine}/{r.instance}/{r.seq}/{r.idx}", "kind": r.kind,
            "name": r.name if r.kind in ("effect", "service") else "", "target": target,
            "status": r.status, "attempts": r.attempts,
            "next": _in(r.next_at - now) if r.status == "pending" else "",
            "error": r.error,
        })
    _print(out, ["key", "kind", "name", "target", "status", "attempts", "next", "error"],
           args.json, total or 0)


def act_on_work(args: argparse.Namespace) -> None:
    """`statesync effects retry|dismiss KEY`: POST the admin route, print what it did."""
    if not args.key or args.key.count("/") < 3:
        raise SystemExit(f"statesync effects {args.action}: give the key as listed "
                         "(machine/instance/seq/idx)")
    machine, rest = args.key.split("/", 1)
    instance, seq, idx = rest.rsplit("/", 2)
    token = args.token or _admin_token()
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in (machine, instance))
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}/v1/admin/instances/{quoted}/effects/{seq}/{idx}/{args.action}",
        method="POST", headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        raise SystemExit(f"{error.get('code', exc.code)}: {error.get('message', exc.reason)}") from None
    status = answer["effect"]["status"]
    if args.action == "retry":
        print(f"{args.key}: retried ({status})" if answer["changed"] else
              f"{args.key}: not failed ({status}), left as it is")
    else:
        print(f"{args.key}: dismissed" if answer["changed"] else f"{args.key}: already dismissed")


def _admin_token() -> str:
    from ..app import App
    from ..auth import ADMIN_CLAIM, Authenticator

    return Authenticator(App().auth).mint("statesync:cli", {ADMIN_CLAIM: True}, 300)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


WORKFLOW_COMMANDS = {"timers": timers_command, "effects": effects_command}
