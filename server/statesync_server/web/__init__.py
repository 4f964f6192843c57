"""Transports: the ASGI application (`server.py`), the WebSocket endpoint (`ws.py`), the HTTP
API (`http.py`, `http_queries.py`), the admin, clock and metrics routes, the browser assets
(`assets.py`) and the inspector page (`inspector_web.py`, its scripts in `inspector/`).

A request is parsed and checked here, handed to the engine, and its answer written back.
May import: `engine`, `workflow`, `store` and the model (the package's top-level modules);
never `cli` or `testing`.
"""
