"""`statesync versions app.py` and `statesync upgrade app.py ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from ..settings import DEFAULT_DATABASE_URL


def add_version_commands(commands: Any) -> None:
    versions = commands.add_parser(
        "versions", help="registered machine versions and stored instances per version")
    versions.add_argument("app", help="path/to/app.py[:attr] or package.module[:attr]")
    versions.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    versions.add_argument("--json", action="store_true", help="machine-readable output")

    upgrade = commands.add_parser(
        "upgrade", help="move instances to another machine version through its migrations")
    upgrade.add_argument("app", help="path/to/app.py[:attr] or package.module[:attr]")
    upgrade.add_argument("--machine", required=True)
    upgrade.add_argument("--to", dest="to_version", help="target version (default: current)")
    which = upgrade.add_mutually_exclusive_group()
    which.add_argument("--from", dest="from_version", help="every instance at this version")
    which.add_argument("--instance", action="append", dest="instances", metavar="NAME",
                       help="this instance (repeatable)")
    which.add_argument("--where", nargs=3, metavar=("INDEX", "OP", "VALUE"),
                       help="the instances an index query matches (VALUE is JSON or text)")
    upgrade.add_argument("--url", help="ask this running server (token minted from the app's "
                                       "key with the statesync_admin claim)")
    upgrade.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                         help="without --url: upgrade in this database directly (stop the "
                              "server first)")


def _versions(args: argparse.Namespace) -> None:
    from ..app import load_app
    from ..store import Store
    from ..engine.versions import all_specs, config_hash, stored_hashes, version_counts

    app = load_app(args.app)

    async def read() -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], str]]:
        store = Store(args.database_url, lock=False)  # reads only: beside a running server
        await store.open()
        try:
            return await version_counts(store), await stored_hashes(store)
        finally:
            await store.close()

    counts, hashes = asyncio.run(read())
    rows = []
    registered = {(s.name, s.version): s for s in all_specs(app)}
    for key in sorted(set(registered) | set(counts)):
        name, version = key
        spec = registered.get(key)
        digest = config_hash(spec.machine) if spec else None
        current = spec is not None and app.machines.get(name) is spec
        if spec is None:
            status = "NOT REGISTERED"
        elif key in hashes and hashes[key] != digest:
            status = "CHANGED"
        else:
            status = "current" if current else "registered"
        rows.append({"machine": name, "version": version, "instances": counts.get(key, 0),
                     "status": status, "hash": digest or hashes.get(key)})
    migrations = [str(m) for m in app.migrations]
    if args.json:
        print(json.dumps({"versions": rows, "migrations": migrations}, indent=2))
        return
    print(f"{'machine':<24} {'version':<10} {'instances':>10}  {'status':<15} hash")
    for r in rows:
        print(f"{r['machine']:<24} {r['version']:<10} {r['instances']:>10}  {r['status']:<15} "
              f"{(r['hash'] or '')[:12]}")
    for m in migrations:
        print(f"migration: {m}")


def _upgrade(args: argparse.Namespace) -> None:
    from ..app import load_app

    app = load_app(args.app)
    where = None
    if args.where:
        index, op, raw = args.where
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        where = {"index": index, "op": op, "value": value}
    request = {"machine": args.machine, "to_version": args.to_version,
               "from_version": args.from_version, "instances": args.instances, "where": where}
    result = _upgrade_remote(app, args.url, request) if args.url else asyncio.run(
        _upgrade_local(app, args.database_url, request))
    print(f"{len(result['upgraded'])} upgraded, {len(result['unchanged'])} already current"
          + (f", {len(result['failed'])} failed" if result["failed"] else ""))
    for name, error in sorted(result["failed"].items()):
        print(f"  {name}: {error}", file=sys.stderr)
    if result["failed"]:
        raise SystemExit(1)


async def _upgrade_local(app: Any, database_url: str, request: dict[str, Any]) -> dict[str, Any]:
    from ..engine.engine import Engine
    from ..errors import StatesyncError
    from ..store import Store
    from ..engine.versions import StartupError, upgrade_request

    engine = Engine(app, Store(database_url))
    try:
        await engine.start()
    except StartupError as exc:
        await engine.store.close()
        raise SystemExit(str(exc)) from None
    try:
        report = await upgrade_request(engine, **request)
    except StatesyncError as exc:
        raise SystemExit(f"{exc.code}: {exc.message}") from None
    finally:
        await engine.stop()
    return {"upgraded": report.upgraded, "unchanged": report.unchanged, "failed": report.failed}


def _upgrade_remote(app: Any, url: str, request: dict[str, Any]) -> dict[str, Any]:
    from ..auth import Authenticator
    from ..auth import ADMIN_CLAIM

    token = Authenticator(app.auth).mint("statesync:cli", {ADMIN_CLAIM: True}, 300)
    http = urllib.request.Request(
        url.rstrip("/") + "/v1/upgrade", data=json.dumps(request).encode(), method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(http, timeout=600) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}").get("error", {})
        raise SystemExit(f"{body.get('code', exc.code)}: {body.get('message', exc.reason)}") from None


VERSION_COMMANDS = {"versions": _versions, "upgrade": _upgrade}
