"""HTTP routes for index queries, the state as of a seq, and upgrades (see docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ErrorCode, StatesyncError
from .history import public_state_at
from .http import _body, _caller, _endpoint, _name, _target
from .indexes import Query, QueryItem, run_query
from .runtime import Runtime

ADMIN_CLAIM = "statesync_admin"
"""A token with this claim set to true may request upgrades (`statesync upgrade --url`)."""


def query_value(text: str | None) -> Any:
    """`?value=` is JSON when it parses (`42`, `true`, `"42"`), else the text itself."""
    if text is None:
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, "value is required")
    try:
        return json.loads(text)
    except ValueError:
        return text


def results(query: Query, items: list[QueryItem], cursor: str | None) -> dict[str, Any]:
    return {
        "machine": query.machine,
        "index": query.index,
        "items": [{"key": i.key, **i.state.model_dump(mode="json")} for i in items],
        "cursor": cursor,
    }


@_endpoint
async def query_index(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    params = request.query_params
    try:
        machine = _name.validate_python(request.path_params["machine"])
        limit = int(params.get("limit", 50))
    except (ValueError, Exception) as exc:  # noqa: BLE001 - reported as a bad request
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, f"bad query: {exc}") from None
    query = Query(machine, request.path_params["index"], params.get("op", "eq"),
                  query_value(params.get("value")), params.get("order", "asc"), limit,
                  params.get("cursor") or None)
    items, cursor = await run_query(runtime.app, runtime.engine.store, claims, query)
    return Response(to_json(results(query, items, cursor)), media_type="application/json")


@_endpoint
async def state_at(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    try:
        seq = int(request.path_params["seq"])
    except ValueError:
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, "seq is an integer") from None
    state = await public_state_at(runtime.engine, claims, machine, instance, seq)
    return Response(to_json(state), media_type="application/json")


class UpgradeBody(BaseModel):
    machine: str
    to_version: str | None = None
    from_version: str | None = None
    instances: list[str] | None = Field(default=None, max_length=10_000)
    where: dict[str, Any] | None = None
    """An index query `{index, op, value}`: upgrade the instances it matches."""


def require_admin(claims: Mapping[str, Any]) -> None:
    if claims.get(ADMIN_CLAIM) is not True:
        raise StatesyncError(ErrorCode.FORBIDDEN, f"upgrades need a token with {ADMIN_CLAIM}: true")


@_endpoint
async def upgrade(request: Request, runtime: Runtime) -> Response:
    from .versions import upgrade_request

    claims = _caller(request, runtime)
    require_admin(claims)
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
