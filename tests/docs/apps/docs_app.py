"""The server the docs' `server` snippets run against: examples/todo's app, with anonymous
sessions on (the README's settings snippet connects without a token)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TODO = Path(__file__).resolve().parents[3] / "examples" / "todo" / "app.py"
sys.path.insert(0, str(_TODO.parent))  # as `statesync serve` does for an app: its machines.py
_spec = importlib.util.spec_from_file_location("docs_todo_app", _TODO)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

app = _module.app
app.anonymous_sessions = True
