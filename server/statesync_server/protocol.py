"""Wire messages, defined once: what clients send and what the server answers.

Client messages are one discriminated union parsed straight from the JSON text; server
messages are serialized from these models. `docs/protocol.md` documents the same shapes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    TypeAdapter,
    model_serializer,
)

from .limits import MAX_SEQ

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@~-]+$")]
RequestId = str | int | None
EventId = Annotated[str, Field(min_length=1, max_length=128)]
WatchId = Annotated[str, Field(min_length=1, max_length=200)] | StrictInt
"""A watch's id, chosen by the client: every `query-change` of the watch carries it."""


def _check_event(event: dict[str, Any]) -> dict[str, Any]:
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("an event is an object with a non-empty string 'type'")
    return event


Event = Annotated[dict[str, Any], AfterValidator(_check_event)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- client -> server -------------------------------------------------------------------


class Auth(_Message):
    """Authenticate (first message), or refresh an expiring token later."""

    type: Literal["auth"]
    token: str
    id: RequestId = None


class Create(_Message):
    """Create an instance; `if_exists="get"` makes it get-or-create."""

    type: Literal["create"]
    machine: Name
    instance: Name
    input: Any = None
    if_exists: Literal["error", "get"] = "error"
    id: RequestId = None


class Get(_Message):
    """Read the current public state of an instance."""

    type: Literal["get"]
    machine: Name
    instance: Name
    id: RequestId = None


class Send(_Message):
    """Send an event; the client-chosen `event_id` makes resending safe. With `settle`, the
    ack waits until the instance's effects and services are done and carries the state."""

    type: Literal["send"]
    machine: Name
    instance: Name
    event: Event
    event_id: EventId
    settle: bool = False


class Subscribe(_Message):
    """Receive updates; with `since`, first every update after that seq (gap-free)."""

    type: Literal["subscribe"]
    machine: Name
    instance: Name
    since: Annotated[int, Field(ge=-1, le=MAX_SEQ)] | None = None
    id: RequestId = None


class Unsubscribe(_Message):
    """Stop receiving updates for an instance."""

    type: Literal["unsubscribe"]
    machine: Name
    instance: Name
    id: RequestId = None


class Ping(_Message):
    """Keep-alive; answered with `pong`."""

    type: Literal["ping"]
    id: RequestId = None


IndexName = Annotated[str, Field(min_length=1, max_length=200)]
Operator = Literal["eq", "ne", "lt", "lte", "gt", "gte", "prefix"]
IndexScalar = str | int | float | bool
IndexValue = IndexScalar | Annotated[list[IndexScalar], Field(min_length=1, max_length=8)]
"""A scalar, or for a composite index a list of its values (all, or the leading ones)."""
Order = Literal["asc", "desc"]
Limit = Annotated[int, Field(ge=1, le=1000)]


class Query(_Message):
    """Instances by index (see `statesync_server.engine.indexes`); answered with `results`."""

    type: Literal["query"]
    machine: Name
    index: IndexName
    op: Operator = "eq"
    value: IndexValue
    order: Order = "asc"
    limit: Limit = 50
    cursor: str | None = None
    id: RequestId = None


class Watch(_Message):
    """A live query: `results` with the first page, then a `query-change` for every instance
    entering, leaving or changing in the query's set, until `unwatch`."""

    type: Literal["watch"]
    machine: Name
    index: IndexName
    op: Operator = "eq"
    value: IndexValue
    order: Order = "asc"
    limit: Limit = 50
    id: WatchId


class Unwatch(_Message):
    """End the watch `id`; answered with `unwatched`."""

    type: Literal["unwatch"]
    id: WatchId


ClientMessage = Annotated[
    Auth | Create | Get | Send | Subscribe | Unsubscribe | Ping | Query | Watch | Unwatch,
    Field(discriminator="type"),
]
client_message = TypeAdapter(ClientMessage)


# --- server -> client -------------------------------------------------------------------


class PublicState(_Message):
    """What leaves the server about an instance: never the private context."""

    machine: str
    instance: str
    seq: int
    value: Any
    tags: list[str]
    context: Any
    status: str
    done: bool


class Authed(_Message):
    type: Literal["authed"] = "authed"
    id: RequestId = None
    sub: str
    exp: int | None = None


class Created(PublicState):
    type: Literal["created"] = "created"
    id: RequestId = None
    existed: bool


class State(PublicState):
    type: Literal["state"] = "state"
    id: RequestId = None


class Update(PublicState):
    type: Literal["update"] = "update"


class Emitted(_Message):
    """An event the instance emitted (`emit`) in the transition to `seq`, as this reader may
    see it (projected like a logged event); sent after that seq's `update`, never stored."""

    type: Literal["emitted"] = "emitted"
    machine: str
    instance: str
    seq: int
    event: dict[str, Any]


class Ack(_Message):
    type: Literal["ack"] = "ack"
    event_id: str
    machine: str
    instance: str
    seq: int
    duplicate: bool = False


class SettledAck(Ack):
    """The ack of a send with `settle`: sent once no effect of the instance is pending
    (`settled`: false if that took longer than the server's settle timeout)."""

    settled: bool
    state: PublicState | None = None


class _Failure(_Message):
    """An error answer; `fields` (validation errors only: each invalid field's `path` and
    `message`) is left out when there are none."""

    code: str
    message: str
    fields: list[dict[str, Any]] | None = None

    @model_serializer(mode="wrap")
    def _without_empty_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("fields") is None:
            data.pop("fields", None)
        return data


class StateAck(Ack):
    """The ack of an HTTP send with `state`: the public state read after the commit (its
    `seq` at least the ack's; null if the caller may no longer read it)."""

    state: PublicState | None = None


class Reject(_Failure):
    type: Literal["reject"] = "reject"
    event_id: str
    machine: str
    instance: str


class Subscribed(_Message):
    type: Literal["subscribed"] = "subscribed"
    id: RequestId = None
    machine: str
    instance: str
    seq: int


class Unsubscribed(_Message):
    type: Literal["unsubscribed"] = "unsubscribed"
    id: RequestId = None
    machine: str
    instance: str


class Pong(_Message):
    type: Literal["pong"] = "pong"
    id: RequestId = None


class Results(_Message):
    """One page of a `query`: `items` are public states, each with the index `key` it
    matched; `cursor` asks for the next page (null: no more). The first page of a `watch`
    also gives the index's `path` into the context (unless the index is `public=False`), so
    the client can place its own pending changes in the live query."""

    type: Literal["results"] = "results"
    id: RequestId = None
    machine: str
    index: str
    items: list[dict[str, Any]]
    cursor: str | None = None
    path: str | None = None

    @model_serializer(mode="wrap")
    def _without_path(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("path") is None:
            data.pop("path", None)
        return data


class QueryChange(_Message):
    """A change in the set of a `watch` (`id`): `instance` entered it, left it, or changed in
    it. `seq` is the instance's seq after the change (for `leave`, the last seq the watcher
    was shown); `item` (enter, update) is the public state like a `results` item."""

    type: Literal["query-change"] = "query-change"
    id: str | int
    machine: str
    index: str
    change: Literal["enter", "leave", "update"]
    instance: str
    seq: int
    item: dict[str, Any] | None = None


class Unwatched(_Message):
    type: Literal["unwatched"] = "unwatched"
    id: str | int


class Error(_Failure):
    type: Literal["error"] = "error"
    id: RequestId = None
    machine: str | None = None
    instance: str | None = None


# --- HTTP bodies ------------------------------------------------------------------------


class CreateBody(_Message):
    """`POST /v1/instances/{machine}/{instance}`."""

    input: Any = None
    if_exists: Literal["error", "get"] = "error"


class SendBody(_Message):
    """`POST /v1/instances/{machine}/{instance}/events`; with `state`, the ack also carries
    the instance's public state as of the answer (a browser shows the confirmed state one
    round trip after a click, before its runtime runs the machine)."""

    event: Event
    event_id: EventId
    settle: bool = False
    state: bool = False
