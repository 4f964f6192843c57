"""statesync server: authoritative statechart instances, synced over WebSocket and HTTP."""

from .app import Access, App, Authorizer, Index, MachineSpec, allow_authenticated, load_app
from .auth import AuthConfig, Authenticator
from .effects import EffectCall, Retry
from .engine import CreateResult, Engine, Op, SendResult, Subscriber
from .errors import ErrorCode, StatesyncError
from .migrations import Migration
from .server import create_asgi_app
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
