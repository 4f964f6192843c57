"""HTTP routes for index queries, the state as of a seq, and upgrades (see docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import protocol as p
from ..auth import check_admin
from ..errors import ErrorCode, StatesyncError
from ..engine.history import public_state_at
from .http import _body, _caller, _endpoint, _target, json_response
from ..engine.indexes import Query, QueryItem, run_query
from ..limits import MAX_SEQ, check_value, invalid, loads, parse_int
from .runtime import Runtime



def query_value(text: str | None) -> Any:
    """`?value=` is JSON when it parses (`42`, `true`, `"42"`, `["pro","active"]` for a
    composite index), else the text itself; text starting with `[` or `{` must be JSON (a
    list of scalars)."""
    if text is None:
        raise invalid("value is required")
    try:
        value = loads(text)
    except StatesyncError:
        if text.startswith(("[", "{")):
            raise invalid("value is a string, number or boolean, or a JSON list of them "
                          "(quote text starting with [ or {)") from None
        return text
    check_value(value)
    if isinstance(value, dict) or (isinstance(value, list) and any(
            isinstance(item, list | dict) for item in value)):
        raise invalid("value is a string, number or boolean, or a JSON list of them")
    return value


def results(query: Query, items: list[QueryItem], cursor: str | None) -> dict[str, Any]:
    return {
        "machine": query.machine,
        "index": query.index,
        "items": [{"key": i.key, **i.state.model_dump()} if i.key_shown else i.state.model_dump()
                  for i in items],
        "cursor": cursor,
    }


@_endpoint
async def query_index(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    params = request.query_params
    fields = {"machine": request.path_params["machine"], "index": request.path_params["index"],
              "value": query_value(params.get("value")), "cursor": params.get("cursor") or None,
              "limit": parse_int(params.get("limit"), "limit", 1, 1000, 50),
              **{k: params[k] for k in ("op", "order") if k in params}}
    try:
        q = p.Query(type="query", **fields)
    except ValidationError as exc:
        raise invalid(f"bad query: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    query = Query(q.machine, q.index, q.op, q.value, q.order, q.limit, q.cursor)
    items, cursor = await run_query(runtime.app, runtime.engine.store, claims, query,
                                    runtime.engine.cursors)
    return json_response(results(query, items, cursor))


@_endpoint
async def state_at(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    seq = parse_int(request.path_params["seq"], "seq", 0, MAX_SEQ)
    state = await public_state_at(runtime.engine, claims, machine, instance, seq)
    return json_response(state)


class UpgradeBody(BaseModel):
    machine: str
    to_version: str | None = None
    from_version: str | None = None
    instances: list[str] | None = Field(default=None, max_length=10_000)
    where: dict[str, Any] | None = None
    """An index query `{index, op, value}`: upgrade the instances it matches."""


@_endpoint
async def upgrade(request: Request, runtime: Runtime) -> Response:
    from ..engine.versions import upgrade_request

    claims = check_admin(_caller(request, runtime))
    body = await _body(request, runtime, UpgradeBody)
    report = await upgrade_request(runtime.engine, body.machine, to_version=body.to_version,
                                   from_version=body.from_version, instances=body.instances,
                                   where=body.where, claims=claims)
    return JSONResponse({"upgraded": report.upgraded, "unchanged": report.unchanged,
                         "failed": report.failed})


routes = [
    Route("/v1/query/{machine}/{index}", query_index, methods=["GET"]),
    Route("/v1/instances/{machine}/{instance}/at/{seq}", state_at, methods=["GET"]),
    Route("/v1/upgrade", upgrade, methods=["POST"]),
]
