"""Durable timers: `after` and delayed raises fire once, at their time, also after a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from server_harness import WsClient, mint

DELAY = 0.2  # FLOWAPP_DELAY_MS default


async def test_after_fires_once_and_is_logged_with_its_origin(flow) -> None:
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "reminder", "instance": "r"})
    await client.request({"type": "subscribe", "id": 2, "machine": "reminder", "instance": "r"})
    await client.update("r", 0)
    started = time.time()
    assert (await client.send_event("reminder", "r", {"type": "START"}, "s1"))["seq"] == 1
    assert (await client.update("r", 1))["value"] == "waiting"
    fired = await client.update("r", 2)
    late = time.time() - started - DELAY
    assert fired["value"] == "fired" and fired["context"]["fired"] == 1
    assert -0.01 < late < 2.0, late  # never early; tolerant upper bound on a shared machine
    assert await client.quiet(0.4) == []  # once
    log = flow.log("reminder", "r")
    assert [(r["seq"], r["origin"]) for r in log] == [(0, "client"), (1, "client"), (2, "timer")]
    assert log[2]["event"]["type"] == "xstate.after.200.reminder.waiting"
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 0
    await client.close()


async def test_leaving_the_state_cancels_the_timer(flow) -> None:
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "reminder", "instance": "r"})
    await client.send_event("reminder", "r", {"type": "START"}, "s1")
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 1
    await client.send_event("reminder", "r", {"type": "STOP"}, "s2")
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 0  # deleted with the exit
    await client.send_event("reminder", "r", {"type": "PING_LATER"}, "s3")
    await client.send_event("reminder", "r", {"type": "UNPING"}, "s4")  # cancel("later")
    await asyncio.sleep(DELAY * 2)
    state = await client.request({"type": "get", "id": 2, "machine": "reminder", "instance": "r"})
    assert (state["value"], state["seq"], state["context"]) == ("idle", 4, {"fired": 0, "pings": 0})
    await client.close()


async def test_timers_survive_a_crash_and_fire_late_oldest_first(flow, monkeypatch) -> None:
    monkeypatch.setenv("FLOWAPP_DELAY_MS", "1500")  # none is due before the kill
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    for i in range(5):
        await client.request({"type": "create", "id": i, "machine": "reminder", "instance": f"r{i}"})
        await client.send_event("reminder", f"r{i}", {"type": "PING_LATER"}, f"p{i}")
        await client.send_event("reminder", f"r{i}", {"type": "START"}, f"s{i}")
    await client.close()
    server.proc.kill()  # kill -9 before any is due
    server.proc.wait()
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 10
    listing = (await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "statesync_server", "timers",
         "--database-url", flow.db, "--instance", "r3"],
        capture_output=True, text=True, check=True, timeout=60)).stdout
    assert "xstate.after.1500.reminder.waiting" in listing and "later" in listing
    assert "(2 total)" in listing
    await asyncio.sleep(1.6)  # all due while the server is down
    restarted = flow.start()
    flow.wait(lambda: flow.query("SELECT count(*) FROM timers")[0][0] == 0, what="late timers")
    client = await WsClient.connect(restarted, mint("alice"))
    for i in range(5):
        state = await client.request({"type": "get", "id": i, "machine": "reminder", "instance": f"r{i}"})
        assert state["value"] == "fired" and state["context"] == {"fired": 1, "pings": 1}
    fired = flow.query("SELECT instance, event, at FROM events WHERE origin='timer' ORDER BY at")
    assert len(fired) == 10
    # oldest first: each instance's PING (started first) fired before its `after` timer
    order = [(r["instance"], "after" in r["event"]) for r in fired]
    for i in range(5):
        assert order.index((f"r{i}", False)) < order.index((f"r{i}", True))
    assert "pending timers (10 due)" in restarted.log()
    await client.close()
