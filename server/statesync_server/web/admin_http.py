"""The admin HTTP routes under `/v1/admin/` (docs/inspector.md): what the inspector shows,
for scripts and curl too. Every route checks the admin credential (`auth.require_admin`)
before it reads anything: 401 without a valid token, 403 for any other token."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import admin_data as data
from ..workflow import failed_work
from .. import protocol as p
from ..auth import Claims, require_admin
from ..engine.results import SendResult
from ..ops import Op
from ..errors import ErrorCode, StatesyncError
from .http import _body, _endpoint, _target, json_response
from .http_queries import query_value
from ..limits import MAX_SEQ, parse_int
from .runtime import Runtime
from ..engine.versions import upgrade_instances, version_counts

ADMIN_ORIGIN = "admin"
"""The event log's origin of events an operator sent through the admin routes."""


def _admin(handler: Callable[[Request, Runtime, Claims], Awaitable[Any]]) -> Callable[..., Any]:
    """An endpoint that answers only the admin credential, with JSON."""

    async def checked(request: Request, runtime: Runtime) -> Response:
        claims = require_admin(request)
        return json_response(await handler(request, runtime, claims))

    return _endpoint(checked)


def _now(runtime: Runtime) -> float:
    """The server clock's time (virtual with `--clock manual`): what `due`/`late` compare to."""
    return runtime.engine.clock.time()


def _machine(request: Request, runtime: Runtime) -> str:
    name = request.path_params["machine"]
    runtime.app.spec(name)  # not-found for an unknown machine
    return name


@_admin
async def list_machines(request: Request, runtime: Runtime, claims: Claims) -> Any:
    counts = await version_counts(runtime.engine.store)
    return {"machines": data.machines(runtime.app, counts)}


@_admin
async def list_instances(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine = _machine(request, runtime)
    params = request.query_params
    where = None
    if "index" in params:
        where = {"index": params["index"], "op": params.get("op", "eq"),
                 "value": query_value(params.get("value"))}
    return await data.search_instances(
        runtime.app, runtime.engine.store, machine, prefix=params.get("prefix", ""),
        state=params.get("state") or None, status=params.get("status") or None, where=where,
        after=params.get("after", ""), limit=parse_int(params.get("limit"), "limit", 1, 1000, 100),
        now=_now(runtime))


@_admin
async def failures(request: Request, runtime: Runtime, claims: Claims) -> Any:
    return await data.failures(runtime.engine.store, _now(runtime))


@_admin
async def instance(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    store, now = runtime.engine.store, _now(runtime)
    row = await data.instance_row(store, machine, name, now)
    return {**row, "timers": await data.instance_timers(store, machine, name, now),
            "effects": await data.instance_outbox(store, machine, name, data.OUTBOX_EFFECTS, now),
            "messages": await data.instance_messages(store, machine, name, now)}


@_admin
async def snapshot_at(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    seq = parse_int(request.path_params["seq"], "seq", 0, MAX_SEQ)
    return await data.full_snapshot_at(runtime.app, runtime.engine.store, machine, name, seq)


@_admin
async def event_log(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    params = request.query_params
    since = parse_int(params.get("since"), "since", -1, MAX_SEQ, -1)
    limit = parse_int(params.get("limit"), "limit", 1, 1000, 200)
    await data.instance_row(runtime.engine.store, machine, name, 0.0)  # not-found when missing
    return await data.event_log(runtime.engine.store, machine, name, since, limit)


@_admin
async def instance_timers(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    timers = await data.instance_timers(runtime.engine.store, machine, name, _now(runtime))
    return {"timers": timers}


@_admin
async def instance_effects(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    rows = await data.instance_outbox(runtime.engine.store, machine, name, data.OUTBOX_EFFECTS,
                                      _now(runtime))
    return {"effects": rows}


@_admin
async def instance_messages(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    return await data.instance_messages(runtime.engine.store, machine, name, _now(runtime))


class AdminSendBody(BaseModel):
    event: p.Event
    event_id: p.EventId | None = None


@_admin
async def send_event(request: Request, runtime: Runtime, claims: Claims) -> Any:
    """Apply an event as the operator: the machine must accept it, its payload is validated
    as any client's, but the app's `allow_write` is not asked (origin `admin` in the log)."""
    machine, name = _target(request)
    body = await _body(request, runtime, AdminSendBody)
    event_id = body.event_id or f"admin-{uuid.uuid4().hex}"
    op = Op("send", machine, name, claims, event=body.event, event_id=event_id)
    op.origin = ADMIN_ORIGIN
    result: SendResult = await runtime.engine.run(op)
    return {"machine": machine, "instance": name, "event_id": event_id, "seq": result.seq,
            "duplicate": result.duplicate}


class AdminUpgradeBody(BaseModel):
    to_version: str | None = None


@_admin
async def upgrade(request: Request, runtime: Runtime, claims: Claims) -> Any:
    machine, name = _target(request)
    _machine(request, runtime)
    body = await _body(request, runtime, AdminUpgradeBody)
    target = body.to_version or runtime.app.machines[machine].version
    runtime.app.version_spec(machine, target)
    report = await upgrade_instances(runtime.engine, machine, [name], target, claims=dict(claims))
    if name in report.failed:
        code, _, message = report.failed[name].partition(": ")
        raise StatesyncError(ErrorCode(code), message)
    return {"machine": machine, "instance": name, "version": target,
            "upgraded": name in report.upgraded}


def _work_key(request: Request, runtime: Runtime) -> tuple[str, str, int, int]:
    machine, name = _target(request)
    _machine(request, runtime)
    seq = parse_int(request.path_params["seq"], "seq", 0, MAX_SEQ, 0)
    idx = parse_int(request.path_params["idx"], "idx", 0, MAX_SEQ, 0)
    return machine, name, seq, idx


@_admin
async def retry_work(request: Request, runtime: Runtime, claims: Claims) -> Any:
    """Run a failed effect again (failed_work.retry); idempotent."""
    done = await failed_work.retry(runtime.engine.workflow, _work_key(request, runtime))
    return {"effect": data.work_item(done.row, _now(runtime)), "changed": done.changed}


@_admin
async def dismiss_work(request: Request, runtime: Runtime, claims: Claims) -> Any:
    """Take a failed effect or service off the failures list (failed_work.dismiss)."""
    done = await failed_work.dismiss(runtime.engine.workflow, _work_key(request, runtime))
    return {"effect": data.work_item(done.row, _now(runtime)), "changed": done.changed}


INSTANCE = "/v1/admin/instances/{machine}/{instance}"
routes = [
    Route("/v1/admin/machines", list_machines, methods=["GET"]),
    Route("/v1/admin/failures", failures, methods=["GET"]),
    Route("/v1/admin/instances/{machine}", list_instances, methods=["GET"]),
    Route(INSTANCE, instance, methods=["GET"]),
    Route(INSTANCE + "/at/{seq}", snapshot_at, methods=["GET"]),
    Route(INSTANCE + "/log", event_log, methods=["GET"]),
    Route(INSTANCE + "/timers", instance_timers, methods=["GET"]),
    Route(INSTANCE + "/effects", instance_effects, methods=["GET"]),
    Route(INSTANCE + "/messages", instance_messages, methods=["GET"]),
    Route(INSTANCE + "/events", send_event, methods=["POST"]),
    Route(INSTANCE + "/upgrade", upgrade, methods=["POST"]),
    Route(INSTANCE + "/effects/{seq}/{idx}/retry", retry_work, methods=["POST"]),
    Route(INSTANCE + "/effects/{seq}/{idx}/dismiss", dismiss_work, methods=["POST"]),
]
