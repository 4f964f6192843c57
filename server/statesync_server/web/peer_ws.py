"""The peer endpoint of cluster mode: other processes forward client sends for the instances
this process owns (engine/peers.py). Only a handshake signed with the cluster's key is
accepted; clients cannot reach the engine through it."""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..engine.peers import HEADER, answer_frame, refusal, submit_frame

log = logging.getLogger("statesync.peers")


async def peer_endpoint(websocket: WebSocket) -> None:
    engine = websocket.app.state.runtime.engine
    peers = engine.peers
    node = peers.key.verify(websocket.headers.get(HEADER)) if peers is not None else None
    if node is None:
        await websocket.close(code=1008)  # policy violation: not a process of this cluster
        return
    await websocket.accept()
    lock = asyncio.Lock()
    answering: set[asyncio.Task[None]] = set()

    async def answer(number: int, futures: list) -> None:
        reply = await answer_frame(number, futures)
        async with lock:
            await websocket.send_text(reply)

    try:
        while True:
            text = await websocket.receive_text()
            if not engine.accepting:
                async with lock:
                    await websocket.send_text(refusal(text, "the owner is stopping"))
                continue
            task = asyncio.create_task(answer(*submit_frame(text, engine.submit)))
            answering.add(task)
            task.add_done_callback(answering.discard)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:  # a peer runs the same code: a bad frame is a bug, logged
        log.exception("cluster: bad frame from process %s; connection closed", node)
        await websocket.close(code=1011)
    finally:
        for task in answering:
            task.cancel()
