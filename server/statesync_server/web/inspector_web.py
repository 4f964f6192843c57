"""The inspector page at `/statesync/inspect` and its scripts (docs/inspector.md).

The page is a shell holding no data: it asks for the admin token, keeps it in the tab's
sessionStorage and reads everything through the admin routes with a bearer header. A browser
navigation carries no header, so the shell is answered 401 (403 for a valid non-admin
token; 200 only to a request that presents the admin credential) and renders the sign-in form.

Its scripts (public: code, no data; `/statesync/inspector-assets/`) are served from this
package (`inspector/`), elkjs's browser build included (`inspector/vendor/`, the npm package
`elkjs` pinned in `inspector/package.json`): nothing to install, nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..auth import require_admin
from ..errors import StatesyncError
from .assets import MEDIA_TYPES, REVALIDATE

ASSETS_DIR = Path(__file__).resolve().parent / "inspector"
ELK_BUNDLE = ASSETS_DIR / "vendor" / "elk.bundled.js"
"""elkjs 0.12.1's browser/Node build (EPL-2.0 or GPL-3.0; `vendor/elkjs-LICENSE.md`)."""
PAGE_HEADERS = {
    "cache-control": "no-store",
    # The forms act with the operator's token: never framed, scripts only from this server.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
OWN_ASSETS = ("inspector.js", "statechart.js", "durations.js", "inspector.css")


async def page(request: Request) -> Response:
    """The shell, with the status the presented credential earns (see the module docstring)."""
    status = 200
    try:
        require_admin(request)
    except StatesyncError as exc:
        status = exc.http_status
    headers = dict(PAGE_HEADERS)
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="statesync admin"'
    return Response((ASSETS_DIR / "index.html").read_bytes(), status_code=status,
                    media_type="text/html; charset=utf-8", headers=headers)


async def beyond_page(request: Request) -> Response:
    """Anything under the page's path: the admin credential first (401/403), then not found."""
    try:
        require_admin(request)
    except StatesyncError as exc:
        return JSONResponse({"error": {"code": exc.code.value, "message": exc.message}},
                            status_code=exc.http_status)
    return JSONResponse({"error": {"code": "not-found", "message": "Not Found"}}, status_code=404)


async def asset(request: Request) -> Response:
    """The page's own scripts and stylesheet, and elkjs: code, no data, public like the SDK."""
    name = request.path_params["name"]
    path = ELK_BUNDLE if name == ELK_BUNDLE.name else ASSETS_DIR / name
    if name not in (*OWN_ASSETS, ELK_BUNDLE.name):
        return JSONResponse({"error": {"code": "not-found", "message": "Not Found"}},
                            status_code=404)
    media_type = {".css": "text/css; charset=utf-8", **MEDIA_TYPES}[path.suffix]
    return FileResponse(path, media_type=media_type, headers=REVALIDATE)


routes = [
    Route("/statesync/inspect", page, methods=["GET"]),
    Route("/statesync/inspect/{rest:path}", beyond_page, methods=["GET", "POST"]),
    Route("/statesync/inspector-assets/{name}", asset, methods=["GET"]),
]
