"""uvicorn's WebSocket protocol (websockets, sans-I/O) made cheaper per message for `/v1/ws`
(`serve` uses it: cli/main.py):

- its frames are written once per turn of the event loop: the acks and updates a group commit
  sends one connection leave in one `send` system call instead of one each;
- it offers the application a synchronous send (`SEND_NOW`, an ASGI extension in the scope):
  a frame written at once, without a coroutine, a queue and a task wake-up per message, while
  the connection is open and not pushing back. web/ws.py uses it when present.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

SEND_NOW = "statesync.send_now"
"""Scope extension: `send_now(text) -> bool`, True if the text frame was written (buffered
for this loop turn), False if the caller must use the ASGI `send` (handshake not done, closing,
or more than `BUFFERED_AT_MOST` bytes not yet taken by the socket)."""

BUFFERED_AT_MOST = 1 << 16
"""Bytes buffered for a connection above which `send_now` declines (the caller queues)."""


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """`WebSocketsSansIOProtocol` on a transport whose writes are joined per loop turn, with
    the `SEND_NOW` extension."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._coalescing = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(self._coalescing)  # type: ignore[arg-type]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the handshake is being answered (not refused)
            scope["extensions"][SEND_NOW] = self.send_now

    def send_now(self, text: str) -> bool:
        """Write a text frame now; False when the ASGI `send` must be used instead."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or self.initial_response is not None or not self.writable.is_set()
                or self._coalescing.buffered() > BUFFERED_AT_MOST):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # closing: `send` reports the disconnection
            return False
        self._coalescing.write(b"".join(self.conn.data_to_send()))
        return True


class CoalescingTransport:
    """Buffers the bytes written to `transport` until the event loop's next turn (or until
    `BUFFERED_AT_MOST` bytes wait), then writes them at once, in order. Closing writes what is
    buffered first; aborting drops it. All else (flow control, addresses) is the transport's
    own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > BUFFERED_AT_MOST:  # the transport's flow control sees it now
            self._flush()

    def buffered(self) -> int:
        """Bytes written and not yet taken by the socket."""
        return self._pending_bytes + self._transport.get_write_buffer_size()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
