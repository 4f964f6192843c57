"""statesync: XState-v5-compatible statecharts in pure Python.

The core is standard-library only and runs unchanged on CPython 3.11+ and in the browser under
Pyodide, and rewritten by the server under MicroPython (`statesync_server.web.light`). See
`docs/core.md` for the core and `docs/client.md` for the client.
"""

from .actions import (
    Action,
    UnknownActorError,
    assign,
    cancel,
    create_instance,
    forward_to,
    raise_,
    send_parent,
    send_to,
    spawn_child,
    stop_child,
)
from .client import (
    AnonymousSession,
    Client,
    ClientError,
    Instance,
    Rejected,
    State,
    UserSettings,
)
from .enqueue import enqueue_actions
from .errors import DefinitionError, InfiniteLoopError, StatesyncError
from .guards import and_, not_, or_, state_in
from .machine import Machine
from .notify import emit, log
from .refs import PARENT, SELF, ActorRef, system
from .sender import Sender
from .snapshot import Snapshot, matches_state

__all__ = [
    "PARENT",
    "SELF",
    "Action",
    "ActorRef",
    "AnonymousSession",
    "Client",
    "ClientError",
    "DefinitionError",
    "InfiniteLoopError",
    "Instance",
    "Machine",
    "Rejected",
    "Sender",
    "Snapshot",
    "State",
    "StatesyncError",
    "UnknownActorError",
    "UserSettings",
    "and_",
    "assign",
    "cancel",
    "create_instance",
    "emit",
    "enqueue_actions",
    "forward_to",
    "log",
    "matches_state",
    "not_",
    "or_",
    "raise_",
    "send_parent",
    "send_to",
    "spawn_child",
    "state_in",
    "stop_child",
    "system",
]
__version__ = "0.1.0"
