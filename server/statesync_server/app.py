"""The user's registry: which machines exist, who may read and write them, what is public."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError
from statesync import Machine
from statesync.sender import takes_sender

from .auth import AuthConfig
from .effect_types import Retry
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
    origin: str = "client"
    """`client` (a token's holder), or `instance`: a message (`send_to` / `create_instance`)
    from another instance, named by `sender`. Only the server sets these."""
    sender: tuple[str, str] | None = None
    """(machine, instance) of the sending instance when `origin` is `instance`."""

    @property
    def subject(self) -> str | None:
        """The caller's `sub` claim."""
        return self.claims.get("sub")


Authorizer = Callable[[Access], bool]


def _services(machine: Any, services: Mapping[str, Callable[..., Any]] | None) -> dict[str, Callable[..., Any]]:
    """The machine's callable `actors` (from `Machine.setup`), then `services` over them."""
    actors = getattr(machine, "actors", None) or {}
    return {**{src: fn for src, fn in actors.items() if callable(fn)}, **(services or {})}


def allow_authenticated(access: Access) -> bool:
    """The default authorizer: any authenticated caller may read and write."""
    return True


def whole_context(context: Any) -> Any:
    """The default projection: the whole context is public."""
    return context


MAX_COMPOSITE = 8
"""Paths a composite index may combine."""


@dataclass(frozen=True, slots=True)
class Index:
    """A secondary index over the context at a dotted `path` (`statesync_server.engine.indexes`).

    `public=True`: its values accompany query results. `public=None` (the default, and what a
    plain path means): a value accompanies a result only when the reader's public context shows
    that value at that path. `public=False`: never shown, and only `eq` queries are answered (a
    range or prefix sweep would reveal the values of the items one may read)."""

    path: str | tuple[str, ...]
    """A dotted path, or several (a composite index: `Index(("plan", "status"))`, queried
    with `eq` and a list of values, all of them or the leading ones)."""
    public: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.path, list | tuple):
            object.__setattr__(self, "path", tuple(self.path))
            if not 2 <= len(self.path) <= MAX_COMPOSITE or not all(
                    isinstance(part, str) and part for part in self.path):
                raise ValueError(f"a composite index has 2-{MAX_COMPOSITE} dotted paths: "
                                 f"{self.path!r}")


def takes_reader(projection: Callable[..., Any]) -> bool:
    """Whether a projection is `fn(value, reader)` rather than `fn(value)`."""
    try:
        parameters = list(inspect.signature(projection).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """One registered machine and its policies."""

    name: str
    machine: Any
    allow_read: Authorizer = allow_authenticated
    allow_write: Authorizer = allow_authenticated
    public_context: Callable[..., Any] = whole_context
    """`fn(context)` or `fn(context, reader)`: what of the context a reader sees (reader: the
    caller's claims). Every read path goes through `statesync_server.engine.privacy`."""
    events: Mapping[str, type[BaseModel] | None] | None = None
    version: str = "1"
    indexes: Mapping[str, str | tuple[str, ...]] | None = None
    """Index name -> dotted path into the context, or a tuple of them (a composite index;
    see `statesync_server.engine.indexes`)."""
    effects: Mapping[str, Callable[..., Any]] | None = None
    """Effect name -> async implementation `fn(call: EffectCall)` (see `effects.py`)."""
    services: Mapping[str, Callable[..., Any]] | None = None
    """Invoked service `src` -> async implementation `fn(call: EffectCall) -> output`."""
    retry: Retry = field(default_factory=Retry)
    """Attempts, backoff and per-run timeout of this machine's effects and services."""
    public_event: Callable[..., Any] | None = None
    """`fn(event, reader[, *, sender])`: the fields of a logged event (the creation's
    `xstate.init` with its `input` included) a reader may see besides its `type`. None: only
    the type. `sender`: the event's `statesync.Sender` as the log keeps it (subject and origin)."""
    allow_read_history: Authorizer | None = None
    """Who gets the event log and history with events as they were sent (never implicit)."""
    index_public: Mapping[str, bool | None] = field(default_factory=dict)
    """Index name -> `Index.public`."""
    context_model: type[BaseModel] | None = None
    """The shape of the public context (documentation: `statesync types` writes it as the
    TypeScript type of `state.context`; the server does not check it)."""
    input_model: type[BaseModel] | None = None
    """The creation input's model: checked before the machine's context function reads it."""
    context_takes_reader: bool = field(init=False)
    public_event_takes_sender: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context_takes_reader", takes_reader(self.public_context))
        object.__setattr__(self, "public_event_takes_sender",
                           self.public_event is not None and takes_sender(self.public_event))

    def validate_input(self, input: Any) -> Any:
        """The creation input as `input_model` validates it (JSON values), or an
        `invalid-event` error naming each bad field (`input.address.street: ...`)."""
        if self.input_model is None:
            return input
        try:
            return self.input_model.model_validate(input).model_dump(mode="json")
        except ValidationError as exc:
            raise StatesyncError(ErrorCode.INVALID_EVENT, "; ".join(
                f"{'.'.join(['input', *map(str, e['loc'])])}: {e['msg']}"
                for e in exc.errors()), field_errors(exc)) from None

    def validate_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Check an event sent by a client; return it with its payload validated."""
        kind = event["type"]
        if kind.startswith(("xstate.", "statesync.")):  # timers, done events, upgrades
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
            raise StatesyncError(ErrorCode.INVALID_EVENT, f"{kind}: {detail}",
                                 field_errors(exc)) from None
        return {"type": kind, **data}


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each invalid field of a payload or input: its path into it and what is wrong."""
    return [{"path": list(e["loc"]), "message": e["msg"]} for e in exc.errors()]


@dataclass
class App:
    """A statesync application: register machines, then `statesync serve app.py`."""

    auth: AuthConfig = field(default_factory=AuthConfig)
    anonymous_sessions: bool = False
    browser_module: ModuleType | str | Path | None = None
    """The machine module browsers import to apply events optimistically: one `.py` file, or
    a package bringing its own pure-Python helpers, importing only the standard library and
    statesync (it is served to every browser)."""
    static_dir: str | Path | None = None
    """A directory of pages served at `/` (its `index.html` for `/`)."""
    machines: dict[str, MachineSpec] = field(default_factory=dict)
    """The current version of each machine (what new instances take)."""
    versions: dict[str, dict[str, MachineSpec]] = field(default_factory=dict)
    """Every registered version of each machine: name -> version label -> spec."""
    migrations: list[Any] = field(default_factory=list)
    """`statesync_server.Migration`s between versions (see `add_migration`)."""

    def register(
        self,
        name: str,
        machine: Any,
        *,
        allow_read: Authorizer = allow_authenticated,
        allow_write: Authorizer = allow_authenticated,
        public_context: Callable[..., Any] = whole_context,
        public_event: Callable[..., Any] | None = None,
        allow_read_history: Authorizer | None = None,
        events: Mapping[str, type[BaseModel] | None] | None = None,
        version: str = "1",
        indexes: Mapping[str, str | tuple[str, ...] | Index] | None = None,
        current: bool | None = None,
        effects: Mapping[str, Callable[..., Any]] | None = None,
        services: Mapping[str, Callable[..., Any]] | None = None,
        retry: Retry | None = None,
        context_model: type[BaseModel] | None = None,
        input_model: type[BaseModel] | None = None,
    ) -> MachineSpec:
        """Register `machine` under `name`; `events` (if given) lists every event clients
        may send, each with an optional Pydantic model for its payload.

        Register several versions of one machine by calling this once per `version` label;
        the last one registered is the current one (new instances take it) unless
        `current=False`. `indexes` maps index names to dotted paths into the context, or to
        `Index(path, public=...)`; `Index(("plan", "status"))` (or a tuple) is a composite
        index over several paths, queried together.

        What readers see (docs/security.md): `public_context(context[, reader])`, the event
        fields `public_event(event, reader)` opts in (default: only the type), and events as
        sent only for callers `allow_read_history` grants.

        `effects` / `services` map effect names and invoked-service `src`s to async
        implementations `fn(call: EffectCall)`, run by the server after the transition that
        starts them is committed, with `retry` (attempts, backoff, timeout; docs/workflows.md).
        The machine's own `actors` (`Machine.setup(actors=...)`) that are functions are
        services too, unless `services` names the same `src`.
        `context_model`: a Pydantic model of the public context, for `statesync types`.
        `input_model`: a Pydantic model of the creation input, checked before the machine's
        context function runs (a bad input is an `invalid-event` naming the field)."""
        if not isinstance(machine, Machine):
            hint = " (wrap the config: Machine({...}))" if isinstance(machine, Mapping) else ""
            raise TypeError(f"app.register({name!r}, ...) needs a statesync.Machine, got a "
                            f"{type(machine).__name__}{hint}")
        known = self.versions.setdefault(name, {})
        if str(version) in known or (name in self.machines and not known):
            raise ValueError(f"machine {name!r} version {version!r} is already registered")
        declared = {n: i if isinstance(i, Index) else Index(i) for n, i in (indexes or {}).items()}
        spec = MachineSpec(
            name, machine, allow_read, allow_write, public_context, events, str(version),
            {n: i.path for n, i in declared.items()} or None,
            effects=dict(effects or {}), services=_services(machine, services), retry=retry or Retry(),
            public_event=public_event, allow_read_history=allow_read_history,
            index_public={n: i.public for n, i in declared.items()},
            context_model=context_model, input_model=input_model,
        )
        known[spec.version] = spec
        if current is not False or name not in self.machines:
            self.machines[name] = spec
        return spec

    def version_spec(self, name: str, version: str) -> MachineSpec:
        """The registered `version` of machine `name`, or a `not-found` error."""
        try:
            return self.versions[name][version]
        except KeyError:
            current = self.spec(name)
            if version == current.version:  # registered by assigning to `machines` directly
                return current
            raise StatesyncError(
                ErrorCode.NOT_FOUND, f"machine {name!r} has no registered version {version!r}"
            ) from None

    def add_migration(self, migration: Any) -> Any:
        """Register a `Migration` from one version of a machine to another."""
        self.migrations.append(migration)
        return migration

    def spec(self, name: str) -> MachineSpec:
        """The registered machine `name`, or a `not-found` error."""
        try:
            return self.machines[name]
        except KeyError:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"unknown machine {name!r}") from None


def _forget_shadowed_siblings(folder: Path) -> None:
    """Drop cached top-level modules that another folder's file provided under a name this
    app's folder also holds (two apps' `machines.py` in one process), so the app imports its own."""
    for name, module in list(sys.modules.items()):
        own = (folder / f"{name}.py", folder / name / "__init__.py")
        file = getattr(module, "__file__", None)
        if ("." not in name and file is not None and any(p.is_file() for p in own)
                and Path(file).resolve() not in own):
            del sys.modules[name]


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
        _forget_shadowed_siblings(path.parent)
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
