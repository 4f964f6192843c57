"""`GET /metrics`: the server's Prometheus metrics, for the metrics token or an admin."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import require_admin
from ..errors import ErrorCode, StatesyncError


def authorize_scrape(request: Request, metrics_token: str | None) -> None:
    """Let the request in with `Authorization: Bearer <metrics token>` (`--metrics-token`)
    or an admin token (`statesync token --admin`); else raise `unauthenticated` (401) or,
    for a valid token without the admin claim, `forbidden` (403)."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if (metrics_token and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), metrics_token.encode())):
        return
    require_admin(request)


async def metrics_endpoint(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        authorize_scrape(request, runtime.settings.metrics_token)
    except StatesyncError as exc:
        body = {"error": {"code": exc.code.value, "message": exc.message}}
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == ErrorCode.UNAUTHENTICATED else None
        return JSONResponse(body, status_code=exc.http_status, headers=headers)
    return Response(runtime.engine.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
