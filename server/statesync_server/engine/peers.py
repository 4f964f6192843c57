"""Cluster mode: an instance's client sends go to its owner process (docs/deployment.md).

The owner of `(machine, instance)` is the live process running the same app with the highest
rendezvous hash of (process id, machine, instance): every process computes it from the same
`nodes` rows (cluster.py), and a process joining or leaving moves only its share. A process
that is not the owner forwards a run of sends to it over one long-lived WebSocket per peer
(`PATH`), authenticated by an HMAC of the cluster's shared secret, and answers its clients
with the owner's acks. The owner applies them as its own: in arrival order behind its other
operations, authorized there with the original sender's claims (the forwarder verified the
token; what the sender may do depends on the instance's state, which the owner has), and
committed with its group commit. Nothing depends on this for correctness: the log fences
every commit, so a forward that fails or times out is applied by the forwarder itself, and an
event id applied by both answers as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import from_json, to_json

from ..errors import ErrorCode, StatesyncError
from ..ops import Op
from ..store.cluster import Member
from .results import SendResult

log = logging.getLogger("statesync.peers")

PATH = "/v1/cluster/peer"
"""The peer endpoint (web/peer_ws.py); refused without a valid `HEADER`."""
HEADER = "x-statesync-peer"
_TOKEN_AGE = 300.0  # seconds a peer handshake token is accepted
_FRAME_OPS = 256  # sends per frame (a frame stays far below the WebSocket size limit)


class PeerUnavailable(Exception):
    """The owner could not be reached or did not answer in time: apply here instead."""


class PeerKey:
    """Signs and checks the handshake of a peer connection (HMAC-SHA256 of a key derived
    from the cluster's shared secret): only processes that know it can forward writes."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"statesync peer v1", hashlib.sha256).digest()

    def token(self, node: str) -> str:
        stamp = str(int(time.time()))
        return f"{node}|{stamp}|{self._mac(node, stamp)}"

    def verify(self, token: str | None) -> str | None:
        """The sending process's id if `token` is genuine and fresh, else None."""
        try:
            node, stamp, mac = (token or "").rsplit("|", 2)
            fresh = abs(time.time() - int(stamp)) <= _TOKEN_AGE
        except ValueError:
            return None
        return node if fresh and hmac.compare_digest(mac, self._mac(node, stamp)) else None

    def _mac(self, node: str, stamp: str) -> str:
        return hmac.new(self._key, f"{node}|{stamp}".encode(), hashlib.sha256).hexdigest()


def owner_of(nodes: list[str], machine: str, instance: str) -> str:
    """The id of the instance's owner among the processes `nodes` (rendezvous hashing)."""
    return _highest([(node.encode(), node, "") for node in nodes], machine, instance)[1]


def _highest(owners: list[tuple[bytes, str, str]], machine: str,
             instance: str) -> tuple[bytes, str, str]:
    name = f"\0{machine}\0{instance}".encode()
    return max(owners, key=lambda owner: hashlib.blake2b(owner[0] + name, digest_size=8).digest())


def forwardable(op: Op) -> bool:
    """A client's plain send (timers', services' and messages' events are applied where their
    rows are owned; a send that waits for its effects stays with its caller)."""
    return op.kind == "send" and op.ref is None and op.origin == "client" and not op.settle \
        and not op.forwarded


class Peers:
    """This process's view of the owners, and its connections to them."""

    def __init__(self, address: str, key: PeerKey, *, timeout: float = 5.0) -> None:
        self.address = address
        """Where the other processes reach this one (`PATH` on its WebSocket URL)."""
        self.node = ""
        """This process's id (set when it joins the cluster)."""
        self.key = key
        self.app: str | None = None
        """The hash of the app this process runs (versions.app_identity; set on joining)."""
        self.timeout = timeout
        """Seconds a forward waits for the owner's answer before applying here instead."""
        self._owners: list[tuple[bytes, str, str]] = []  # (id bytes, id, address)
        self._links: dict[str, _Link] = {}

    def update(self, members: Mapping[str, Member]) -> None:
        """The live processes changed (cluster.py): those running the same app may own (in a
        rolling deploy the old and the new processes each keep to their own)."""
        self._owners = sorted((node.encode(), node, member.address or "")
                              for node, member in members.items()
                              if member.app == self.app and (member.address or node == self.node))
        for address in set(self._links) - {address for *_, address in self._owners}:
            self._links.pop(address).close()

    @property
    def members(self) -> int:
        """The live processes that may own instances (this one included)."""
        return len(self._owners)

    def owner(self, machine: str, instance: str) -> str | None:
        """The address of the instance's owner; None when it is this process (or unknown)."""
        if len(self._owners) < 2:
            return None
        best = _highest(self._owners, machine, instance)
        return None if best[1] == self.node else best[2]

    async def forward(self, address: str, ops: list[Op]) -> list[Any]:
        """Each op's result from the owner at `address` (a `SendResult` or a
        `StatesyncError`); `PeerUnavailable` if it cannot be had in time."""
        link = self._links.get(address)
        if link is None:
            link = self._links[address] = _Link(address, self.node, self.key, self.timeout)
        results: list[Any] = []
        for start in range(0, len(ops), _FRAME_OPS):  # one frame after the other: in order
            reply = link.request(ops[start:start + _FRAME_OPS])
            try:
                async with asyncio.timeout(self.timeout):
                    results += await reply
            except TimeoutError:
                reply.cancel()
                raise PeerUnavailable(
                    f"no answer from {address} within {self.timeout:g} s") from None
        return results

    async def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()


class _Link:
    """One WebSocket to a peer, multiplexed: frames are numbered, answers matched by number."""

    def __init__(self, address: str, node: str, key: PeerKey, timeout: float) -> None:
        self.address = address
        self._node = node
        self._key = key
        self._timeout = timeout
        self._socket: Any = None
        self._connecting: asyncio.Task[Any] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self._numbers = itertools.count()
        self._down_until = 0.0

    def request(self, ops: list[Op]) -> asyncio.Task[list[Any]]:
        """Send `ops` now (in call order) and return the task awaiting their results."""
        number = next(self._numbers)
        claims: dict[int, int] = {}
        table: list[Any] = []
        rows = []
        for op in ops:
            index = claims.get(id(op.claims))
            if index is None:
                index = claims[id(op.claims)] = len(table)
                table.append(dict(op.claims))
            rows.append((op.machine, op.instance, op.event_id, op.event, index))
        frame = to_json({"n": number, "claims": table, "ops": rows}).decode()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        sent = self._send(frame)
        return asyncio.ensure_future(self._answer(number, future, sent))

    async def _answer(self, number: int, future: asyncio.Future[list[Any]],
                      sent: asyncio.Future[None]) -> list[Any]:
        try:
            await sent
            return await future
        finally:
            self._pending.pop(number, None)

    def _send(self, frame: str) -> asyncio.Future[None]:
        """Send `frame` behind the frames sent before it (connecting first if need be)."""
        if self._socket is not None and self._connecting is None:
            return asyncio.ensure_future(self._socket.send(frame))
        if self._connecting is None:
            if time.monotonic() < self._down_until:
                failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                failed.set_exception(PeerUnavailable(f"{self.address} is unreachable"))
                return failed
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting

        async def after_connect() -> None:
            await asyncio.shield(connecting)
            await self._socket.send(frame)

        return asyncio.ensure_future(after_connect())

    async def _connect(self) -> None:
        from websockets.asyncio.client import connect

        try:
            self._socket = await connect(
                self.address, additional_headers={HEADER: self._key.token(self._node)},
                compression=None, open_timeout=self._timeout, max_size=None, proxy=None,
                ping_interval=None)
        except Exception as exc:  # noqa: BLE001 - any failure: apply here for a while
            self._down_until = time.monotonic() + 1.0
            log.info("cluster: cannot reach %s (%s); applying its instances' sends here",
                     self.address, exc)
            raise PeerUnavailable(str(exc)) from None
        finally:
            self._connecting = None
        self._reader = asyncio.create_task(self._read(self._socket))

    async def _read(self, socket: Any) -> None:
        try:
            async for text in socket:
                reply = from_json(text)
                future = self._pending.get(reply["n"])
                if future is None or future.done():
                    continue
                if "refused" in reply:
                    future.set_exception(PeerUnavailable(reply["refused"]))
                else:
                    future.set_result([_result(item) for item in reply["r"]])
        except Exception:  # noqa: BLE001, S110 - the connection ended: everything pending fails
            pass
        finally:
            if self._socket is socket:
                self._socket = None
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(PeerUnavailable(f"lost the connection to {self.address}"))

    def close(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            task = asyncio.ensure_future(socket.close())
            task.add_done_callback(lambda _t: None)
        if self._reader is not None:
            self._reader.cancel()


def _result(item: Any) -> Any:
    if isinstance(item, list):
        return SendResult(item[0], item[1])
    return StatesyncError(ErrorCode(item["code"]), item["message"], item.get("fields"))


def submit_frame(text: str, submit: Callable[[Op], None]) -> tuple[int, list[asyncio.Future[Any]]]:
    """The owner's side: submit a frame's sends, in order, before anything else runs; the
    frame's number and a future of each send's result (`answer_frame`)."""
    frame = from_json(text)
    table = frame["claims"]
    loop = asyncio.get_running_loop()
    futures = []
    for machine, instance, event_id, event, claims in frame["ops"]:
        future: asyncio.Future[Any] = loop.create_future()
        op = Op("send", machine, instance, table[claims], event=event, event_id=event_id,
                forwarded=True)
        op.reply = lambda result, future=future: future.done() or future.set_result(result)
        submit(op)
        futures.append(future)
    return frame["n"], futures


async def answer_frame(number: int, futures: list[asyncio.Future[Any]]) -> str:
    """The reply to a frame once each of its sends is answered."""
    results: list[Any] = []
    for future in futures:
        result = await future
        if isinstance(result, SendResult):
            results.append((result.seq, result.duplicate))
        elif isinstance(result, StatesyncError):
            results.append({"code": result.code.value, "message": result.message,
                            "fields": result.fields})
        else:  # no other answer to a plain send
            results.append({"code": ErrorCode.INTERNAL.value, "message": "internal error"})
    return to_json({"n": number, "r": results}).decode()


def refusal(text: str, why: str) -> str:
    """The answer to a frame this process does not take (it is stopping): apply elsewhere."""
    with contextlib.suppress(Exception):
        return to_json({"n": from_json(text)["n"], "refused": why}).decode()
    return "{}"
