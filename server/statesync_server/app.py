"""The user's registry: which machines exist, who may read and write them, what is public."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .auth import AuthConfig
from .errors import ErrorCode, StatesyncError


@dataclass(frozen=True, slots=True)
class Access:
    """What an authorizer sees: the caller, the instance, its current state and the event.

    On creation `creating` is true, `value`/`context` are those of the initial state and
    `event` is `{"type": "xstate.init", "input": ...}`. For reads `event` is None.
    Authorizers see the whole (private) context.
    """

    claims: Mapping[str, Any]
    machine: str
    instance: str
    value: Any
    context: Any
    event: Mapping[str, Any] | None = None
    creating: bool = False

    @property
    def subject(self) -> str | None:
        """The caller's `sub` claim."""
        return self.claims.get("sub")


Authorizer = Callable[[Access], bool]


def allow_authenticated(access: Access) -> bool:
    """The default authorizer: any authenticated caller may read and write."""
    return True


def whole_context(context: Any) -> Any:
    """The default projection: the whole context is public."""
    return context


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """One registered machine and its policies."""

    name: str
    machine: Any
    allow_read: Authorizer = allow_authenticated
    allow_write: Authorizer = allow_authenticated
    public_context: Callable[[Any], Any] = whole_context
    events: Mapping[str, type[BaseModel] | None] | None = None
    version: str = "1"

    def validate_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Check an event sent by a client; return it with its payload validated."""
        kind = event["type"]
        if kind.startswith("xstate."):
            raise StatesyncError(ErrorCode.INVALID_EVENT, f"event type {kind!r} is reserved")
        if self.events is None:
            return event
        if kind not in self.events:
            raise StatesyncError(
                ErrorCode.INVALID_EVENT, f"machine {self.name!r} has no event {kind!r}"
            )
        model = self.events[kind]
        if model is None:
            return event
        payload = {k: v for k, v in event.items() if k != "type"}
        try:
            data = model.model_validate(payload).model_dump(mode="json")
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors()
            )
            raise StatesyncError(ErrorCode.INVALID_EVENT, f"{kind}: {detail}") from None
        return {"type": kind, **data}


@dataclass
class App:
    """A statesync application: register machines, then `statesync serve app.py`."""

    auth: AuthConfig = field(default_factory=AuthConfig)
    anonymous_sessions: bool = False
    machines: dict[str, MachineSpec] = field(default_factory=dict)

    def register(
        self,
        name: str,
        machine: Any,
        *,
        allow_read: Authorizer = allow_authenticated,
        allow_write: Authorizer = allow_authenticated,
        public_context: Callable[[Any], Any] = whole_context,
        events: Mapping[str, type[BaseModel] | None] | None = None,
        version: str = "1",
    ) -> MachineSpec:
        """Register `machine` under `name`; `events` (if given) lists every event clients
        may send, each with an optional Pydantic model for its payload."""
        if name in self.machines:
            raise ValueError(f"machine {name!r} is already registered")
        spec = MachineSpec(
            name, machine, allow_read, allow_write, public_context, events, str(version)
        )
        self.machines[name] = spec
        return spec

    def spec(self, name: str) -> MachineSpec:
        """The registered machine `name`, or a `not-found` error."""
        try:
            return self.machines[name]
        except KeyError:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"unknown machine {name!r}") from None


def load_app(target: str) -> App:
    """Load an `App` from `path/to/app.py[:attr]` or `package.module[:attr]`."""
    location, _, attr = target.partition(":")
    if location.endswith(".py") or Path(location).is_file():
        path = Path(location).resolve()
        spec = importlib.util.spec_from_file_location(f"statesync_app_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    if attr:
        app = getattr(module, attr)
    else:
        found = [v for v in vars(module).values() if isinstance(v, App)]
        if len(found) != 1:
            raise ValueError(f"{target}: expected exactly one App instance, found {len(found)}")
        app = found[0]
    if not isinstance(app, App):
        raise ValueError(f"{target}: {attr!r} is not a statesync_server.App")
    return app
