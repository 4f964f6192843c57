"""The HTTP API, mirroring the WebSocket requests for servers, scripts and curl."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine import history
from .. import protocol as p
from ..engine.results import CreateResult, SendResult
from ..ops import Op
from ..errors import ErrorCode, StatesyncError
from ..limits import INT_MAX, MAX_SEQ, parse_int, parse_json
from .ratelimit import KeyedLimiter
from .runtime import Runtime, require_live

_name = TypeAdapter(p.Name)
M = TypeVar("M", bound=BaseModel)


def _error_response(error: StatesyncError) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code.value, "message": error.message}
    if error.fields is not None:
        body["fields"] = error.fields
    return JSONResponse({"error": body}, status_code=error.http_status)


async def starlette_error(request: Request, exc: Exception) -> Response:
    """Errors raised outside the endpoints (unknown route, wrong method, a bug), answered
    as structured JSON like every other error instead of Starlette's plain text."""
    if isinstance(exc, HTTPException):
        code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.INVALID_MESSAGE
        body = {"error": {"code": code.value, "message": exc.detail}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    return _error_response(StatesyncError(ErrorCode.INTERNAL, "internal error"))


def json_response(body: Any) -> Response:
    """`body` as JSON; numbers that JSON cannot hold (NaN, infinities) become null, as in
    every other server message."""
    return Response(to_json(body, inf_nan_mode="null"), media_type="application/json")


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _endpoint(handler: Callable[[Request, Runtime], Awaitable[Response]]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.runtime)
        except StatesyncError as exc:
            return _error_response(exc)

    return endpoint


def _caller(request: Request, runtime: Runtime) -> dict[str, Any]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "send 'Authorization: Bearer <token>'")
    claims = dict(require_live(runtime.auth.verify(token.strip())))
    limiter: KeyedLimiter = request.app.state.http_limiter
    if not limiter.take(claims["sub"]):
        raise StatesyncError(ErrorCode.RATE_LIMITED, "too many requests; slow down")
    return claims


def _target(request: Request) -> tuple[str, str]:
    try:
        return (
            _name.validate_python(request.path_params["machine"]),
            _name.validate_python(request.path_params["instance"]),
        )
    except ValidationError as exc:
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, f"bad name: {exc.errors()[0]['msg']}") from None


async def _body(request: Request, runtime: Runtime, model: type[M]) -> M:
    """The JSON body as `model`, read up to `max_message_bytes` (chunked bodies too)."""
    limit = runtime.settings.max_message_bytes
    too_large = StatesyncError(ErrorCode.TOO_LARGE, f"bodies are limited to {limit} bytes")
    if parse_int(request.headers.get("content-length"), "content-length", 0, INT_MAX, 0) > limit:
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise too_large
    value = parse_json(raw or b"{}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, detail) from None


@_endpoint
async def create_instance(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    body = await _body(request, runtime, p.CreateBody)
    runtime.check_create_quota(claims)
    op = Op("create", machine, instance, claims, input=body.input, if_exists=body.if_exists)
    result: CreateResult = await runtime.engine.run(op)
    created = p.Created(existed=result.existed, **result.state.model_dump())
    return _json(created, 200 if result.existed else 201)


@_endpoint
async def get_instance(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    state: p.PublicState = await runtime.engine.run(Op("get", machine, instance, claims))
    return _json(p.State(**state.model_dump()))


@_endpoint
async def send_event(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    body = await _body(request, runtime, p.SendBody)
    op = Op("send", machine, instance, claims, event=body.event, event_id=body.event_id)
    op.settle = body.settle
    result: SendResult = await runtime.engine.run(op)
    ack = result.ack(body.event_id, machine, instance)
    if body.state and not body.settle:  # a settled ack has the state already
        try:
            state = await runtime.engine.run(Op("get", machine, instance, claims))
        except StatesyncError:
            state = None
        ack = p.StateAck.model_construct(**dict(ack), state=state)
    return _json(ack)


@_endpoint
async def event_log(request: Request, runtime: Runtime) -> Response:
    claims = _caller(request, runtime)
    machine, instance = _target(request)
    params = request.query_params
    since = parse_int(params.get("since"), "since", -1, MAX_SEQ, -1)
    limit = min(parse_int(params.get("limit"), "limit", 1, INT_MAX, 100), 1000)
    entries, following = await history.event_log(runtime.engine, claims, machine, instance, since, limit)
    body = {"machine": machine, "instance": instance, "entries": entries, "next": following}
    return json_response(body)


@_endpoint
async def anonymous_session(request: Request, runtime: Runtime) -> Response:
    if not runtime.app.anonymous_sessions:
        raise StatesyncError(ErrorCode.NOT_FOUND, "anonymous sessions are disabled")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    renewed = runtime.auth.renewable(presented.strip() if scheme.lower() == "bearer" else None)
    address = request.client.host if request.client else "?"
    if renewed is None and not runtime.sessions.take(address):
        rate = runtime.settings.session_rate
        raise StatesyncError(ErrorCode.RATE_LIMITED, f"at most {rate:g} new sessions a minute")
    token, sub, exp = runtime.auth.anonymous(renewed)
    return JSONResponse({"token": token, "sub": sub, "exp": exp})


@_endpoint
async def session_info(request: Request, runtime: Runtime) -> Response:
    """Who the bearer token stands for: `{"sub", "exp"}` (401 when it is not valid)."""
    claims = _caller(request, runtime)
    return JSONResponse({"sub": claims["sub"], "exp": claims.get("exp")})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


routes = [
    Route("/v1/health", health, methods=["GET"]),
    Route("/v1/session", anonymous_session, methods=["POST"]),
    Route("/v1/session", session_info, methods=["GET"]),
    Route("/v1/instances/{machine}/{instance}", create_instance, methods=["POST"]),
    Route("/v1/instances/{machine}/{instance}", get_instance, methods=["GET"]),
    Route("/v1/instances/{machine}/{instance}/events", send_event, methods=["POST"]),
    Route("/v1/instances/{machine}/{instance}/events", event_log, methods=["GET"]),
]
