"""The WebSocket endpoint: one socket multiplexes many instances (see docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import protocol as p
from .engine import CreateResult, Op, SendResult
from .errors import ErrorCode, StatesyncError
from .ratelimit import TokenBucket
from .runtime import Runtime, require_live

log = logging.getLogger("statesync")


class Connection:
    """One client socket: parses requests, submits them, and writes replies and updates in
    order through a bounded outbound queue (a client that stops reading is disconnected)."""

    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.claims: Mapping[str, Any] = {}
        self.closed = False
        self.keys: set[tuple[str, str]] = set()
        settings = runtime.settings
        self.bucket = TokenBucket(settings.rate_limit, settings.rate_burst)
        self.outbound: asyncio.Queue[str] = asyncio.Queue()
        self._closing: asyncio.Future[None] | None = None

    # --- Subscriber -----------------------------------------------------------------------

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        if self.outbound.qsize() >= self.runtime.settings.max_outbound:
            log.warning("closing a connection that does not read its messages")
            self.closed = True
            reason = "too many unread messages"
            self._closing = asyncio.ensure_future(self.websocket.close(code=1008, reason=reason))
            return
        self.outbound.put_nowait(text)

    def lost(self, machine: str, instance: str, error: StatesyncError) -> None:
        self.keys.discard((machine, instance))
        self._error(error, None, machine, instance)

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        await self.websocket.accept()
        writer = asyncio.create_task(self._write())
        try:
            while not self.closed:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self._receive(message.get("text"))
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            self.runtime.engine.detach(self, list(self.keys))
            writer.cancel()

    async def _write(self) -> None:
        try:
            while True:
                await self.websocket.send_text(await self.outbound.get())
        except Exception:  # the peer went away; the reader notices too
            self.closed = True

    # --- requests -------------------------------------------------------------------------

    def _receive(self, text: str | None) -> None:
        if text is None:
            self._error(StatesyncError(ErrorCode.INVALID_MESSAGE, "binary frames are not supported"))
            return
        limit = self.runtime.settings.max_message_bytes
        if len(text) > limit or len(text.encode()) > limit:
            self._error(StatesyncError(ErrorCode.TOO_LARGE, f"messages are limited to {limit} bytes"))
            return
        try:
            message = p.client_message.validate_json(text)
        except ValidationError as exc:
            self._invalid(text, exc)
            return
        if not self.bucket.take():
            error = StatesyncError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
            self._fail(message, error)
            return
        try:
            self._dispatch(message)
        except StatesyncError as exc:
            self._fail(message, exc)

    def _dispatch(self, message: Any) -> None:
        match message:
            case p.Ping(id=rid):
                self._send(p.Pong(id=rid))
            case p.Auth(token=token, id=rid):
                self.claims = self.runtime.auth.verify(token)
                self._send(p.Authed(id=rid, sub=self.claims["sub"], exp=self.claims.get("exp")))
            case p.Send(machine=m, instance=i, event=event, event_id=eid):
                op = Op("send", m, i, require_live(self.claims), lambda r: self._sent(message, r))
                op.event, op.event_id, op.settle = event, eid, message.settle
                self.runtime.engine.submit(op)
            case p.Create(machine=m, instance=i, id=rid):
                op = Op("create", m, i, require_live(self.claims), lambda r: self._created(rid, r))
                op.input, op.if_exists = message.input, message.if_exists
                self.runtime.engine.submit(op)
            case p.Get(machine=m, instance=i, id=rid):
                op = Op("get", m, i, require_live(self.claims), lambda r: self._state(rid, r))
                self.runtime.engine.submit(op)
            case p.Subscribe(machine=m, instance=i, id=rid, since=since):
                op = Op("subscribe", m, i, require_live(self.claims),
                        lambda r: self._subscribed(message, r))
                op.since, op.subscriber = since, self
                self.runtime.engine.submit(op)
            case p.Query():
                claims = require_live(self.claims)
                task = asyncio.ensure_future(self._query(message, claims))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            case p.Unsubscribe(machine=m, instance=i, id=rid):
                self.keys.discard((m, i))
                op = Op("unsubscribe", m, i, self.claims,
                        lambda r: self._send(p.Unsubscribed(id=rid, machine=m, instance=i)))
                op.subscriber = self
                self.runtime.engine.submit(op)

    async def _query(self, message: p.Query, claims: Mapping[str, Any]) -> None:
        from .http_queries import results
        from .indexes import Query, run_query

        query = Query(message.machine, message.index, message.op, message.value, message.order,
                      message.limit, message.cursor)
        try:
            items, cursor = await run_query(self.runtime.app, self.runtime.engine.store, claims,
                                            query)
        except StatesyncError as exc:
            self._error(exc, message.id, message.machine)
            return
        except Exception:
            log.exception("query failed")
            self._error(StatesyncError(ErrorCode.INTERNAL, "query failed"), message.id)
            return
        self._send(p.Results(id=message.id, **results(query, items, cursor)))

    # --- replies (called by the engine, in commit order) ----------------------------------

    def _sent(self, message: p.Send, result: SendResult | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._fail(message, result)
        else:
            self._send(result.ack(message.event_id, message.machine, message.instance))

    def _created(self, rid: p.RequestId, result: CreateResult | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._error(result, rid)
        else:
            self._send(p.Created(id=rid, existed=result.existed, **result.state.model_dump()))

    def _state(self, rid: p.RequestId, result: p.PublicState | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._error(result, rid)
        else:
            self._send(p.State(id=rid, **result.model_dump()))

    def _subscribed(self, message: p.Subscribe, result: int | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._error(result, message.id, message.machine, message.instance)
        else:
            self.keys.add((message.machine, message.instance))
            self._send(p.Subscribed(id=message.id, machine=message.machine,
                                    instance=message.instance, seq=result))

    # --- helpers --------------------------------------------------------------------------

    def _send(self, message: Any) -> None:
        self.deliver(message.model_dump_json())

    def _error(self, error: StatesyncError, rid: p.RequestId = None,
               machine: str | None = None, instance: str | None = None) -> None:
        self._send(p.Error(id=rid, code=error.code, message=error.message,
                           machine=machine, instance=instance))

    def _fail(self, message: Any, error: StatesyncError) -> None:
        """Answer a request with an error: a `reject` for events, else an `error`."""
        if isinstance(message, p.Send):
            self._send(p.Reject(event_id=message.event_id, machine=message.machine,
                                instance=message.instance, code=error.code, message=error.message))
        else:
            self._error(error, getattr(message, "id", None), getattr(message, "machine", None),
                        getattr(message, "instance", None))

    def _invalid(self, text: str, exc: ValidationError) -> None:
        """Report a malformed message, correlated to its request or event id when possible."""
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:] or e['loc'])) or 'message'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        error = StatesyncError(ErrorCode.INVALID_MESSAGE, detail)
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            self._error(error)
            return
        rid = raw.get("id") if isinstance(raw.get("id"), str | int) else None
        machine = raw.get("machine") if isinstance(raw.get("machine"), str) else None
        instance = raw.get("instance") if isinstance(raw.get("instance"), str) else None
        event_id = raw.get("event_id")
        if raw.get("type") == "send" and isinstance(event_id, str) and machine and instance:
            self._send(p.Reject(event_id=event_id, machine=machine, instance=instance,
                                code=error.code, message=error.message))
        else:
            self._error(error, rid, machine, instance)


async def websocket_endpoint(websocket: WebSocket) -> None:
    """`/v1/ws`."""
    await Connection(websocket, websocket.app.state.runtime).run()
