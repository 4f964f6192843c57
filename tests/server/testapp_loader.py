"""Load the test app (tests/server/apps/testapp.py) in-process."""

from __future__ import annotations

from server_harness import APP

from statesync_server import App, load_app


def load_test_app() -> App:
    return load_app(APP)
