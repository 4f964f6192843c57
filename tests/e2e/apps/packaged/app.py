"""An app whose browser machine module is a package bringing its own pure-Python helpers."""

from __future__ import annotations

import counters

from statesync_server import App

app = App(browser_module=counters)
app.register("counter", counters.counter)
