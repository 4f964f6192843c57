"""`/v1/admin/clock`: read the server's clock, and advance a manual one (`--clock manual`).

    GET  /v1/admin/clock                      -> {"manual": true, "now": 1764640000.0}
    POST /v1/admin/clock {"seconds": 86400}   -> {"start": ..., "now": ..., "steps": [...]}

Both need the admin credential (`auth.require_admin`). The POST returns once the server has
settled at the new time (`virtual_time.advance`); `steps` are the due times it stopped at.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth import require_admin
from .http import _body, _endpoint, json_response
from .runtime import Runtime
from ..engine.virtual_time import advance

MAX_ADVANCE = 100 * 365 * 86400.0
"""A century: more than any test skips, less than what float time still counts in seconds."""


class AdvanceBody(BaseModel):
    seconds: float = Field(ge=0, le=MAX_ADVANCE, allow_inf_nan=False)


@_endpoint
async def read_clock(request: Request, runtime: Runtime) -> Response:
    require_admin(request)
    clock = runtime.engine.clock
    return json_response({"manual": clock.manual, "now": clock.time()})


@_endpoint
async def advance_clock(request: Request, runtime: Runtime) -> Response:
    require_admin(request)
    body = await _body(request, runtime, AdvanceBody)
    done = await advance(runtime.engine, body.seconds)
    return json_response({"start": done.start, "now": done.now, "steps": done.steps})


routes = [
    Route("/v1/admin/clock", read_clock, methods=["GET"]),
    Route("/v1/admin/clock", advance_clock, methods=["POST"]),
]
