"""statesync server: authoritative statechart instances, synced over WebSocket and HTTP.

The package's layers, top to bottom (imports only go down; tests/server/test_layering.py):
`cli` and `testing`, the transports (`web`), the event pipeline and read paths (`engine`), the
workflow runtime (`workflow`), persistence (`store`), and at the bottom the model an app is
written against: the top-level modules (`app`, `migrations`, `effect_types`, `auth`,
`settings`, `errors`, `limits`, `protocol`, ...). This module re-exports the public API.
"""

from .app import Access, App, Authorizer, Index, MachineSpec, allow_authenticated, load_app
from .auth import AuthConfig, Authenticator
from .effect_types import EffectCall, Retry
from .engine.engine import Engine
from .engine.results import CreateResult, SendResult
from .errors import ErrorCode, StatesyncError
from .migrations import Migration
from .ops import Op, Subscriber
from .web.server import create_asgi_app
from .settings import Settings
from .store import Store

__all__ = [
    "Access",
    "App",
    "AuthConfig",
    "Authenticator",
    "Authorizer",
    "CreateResult",
    "EffectCall",
    "Engine",
    "ErrorCode",
    "Index",
    "MachineSpec",
    "Migration",
    "Op",
    "Retry",
    "SendResult",
    "Settings",
    "StatesyncError",
    "Store",
    "Subscriber",
    "allow_authenticated",
    "create_asgi_app",
    "load_app",
]
