"""`handle.on(type, listener)`: the Python client hears the events an instance emits, as the
server delivers them to this reader (tests/server/apps/emitapp.py)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

EMITAPP = Path(__file__).parent.parent / "server" / "apps" / "emitapp.py"


def load_emitapp() -> Any:
    spec = importlib.util.spec_from_file_location("emitapp_for_client", EMITAPP)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_on_hears_emitted_events_per_reader_and_off_stops(statesync_server_factory, make_client) -> None:
    emitapp = load_emitapp()
    server = statesync_server_factory(app=str(EMITAPP))
    alice = make_client(server.url, token=server.mint("alice"), machines={"checkout": emitapp.checkout})
    sam = make_client(server.url, token=server.mint("sam", role="support"), machines={})
    mine = await alice.instance("checkout", "o1", create={"owner": "alice"})
    theirs = await sam.instance("checkout", "o1")

    failed: list[dict[str, Any]] = []
    everything: list[dict[str, Any]] = []
    support_saw: list[dict[str, Any]] = []
    off = mine.on("paymentFailed", failed.append)
    mine.on("*", everything.append)
    theirs.on("paymentFailed", support_saw.append)

    sent = mine.send({"type": "FAIL", "reason": "card declined"})
    assert mine.state.context["failures"] == 1  # the optimistic prediction ...
    assert failed == [] and everything == []   # ... emits nothing: only the server's events count
    await sent
    await wait_until(lambda: len(everything) == 2 and len(support_saw) == 1)
    assert failed == [{"type": "paymentFailed"}]
    assert everything == [{"type": "paymentFailed"}, {"type": "retryAllowed"}]
    assert support_saw == [{"type": "paymentFailed", "reason": "card declined"}]

    off()
    await mine.send({"type": "FAIL", "reason": "again"})
    await wait_until(lambda: len(support_saw) == 2 and len(everything) == 4)
    assert failed == [{"type": "paymentFailed"}]  # off: not called again
    assert everything[2:] == [{"type": "paymentFailed"}, {"type": "retryAllowed"}]


async def test_a_raising_listener_does_not_stop_the_others(statesync_server_factory, make_client) -> None:
    emitapp = load_emitapp()
    server = statesync_server_factory(app=str(EMITAPP))
    client = make_client(server.url, token=server.mint("alice"), machines={"checkout": emitapp.checkout})
    handle = await client.instance("checkout", "o2", create={"owner": "alice"})
    heard: list[int] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    handle.on("pong", broken)
    handle.on("pong", lambda event: heard.append(event["n"]))
    await handle.send({"type": "PING", "n": 5})
    await wait_until(lambda: heard == [5])
    assert handle.state.context["failures"] == 0
