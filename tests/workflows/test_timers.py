"""Durable timers: `after` and delayed raises fire once, at their time, also after a restart.

The servers run on virtual time (`--clock manual`): nothing fires until the test advances
the clock, and then everything fires at its exact due time, whatever the machine's load."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from server_harness import WsClient, mint

DELAY = 0.2  # FLOWAPP_DELAY_MS default


async def test_after_fires_once_at_its_exact_time_and_is_logged_with_its_origin(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "reminder", "instance": "r"})
    await client.request({"type": "subscribe", "id": 2, "machine": "reminder", "instance": "r"})
    await client.update("r", 0)
    assert (await client.send_event("reminder", "r", {"type": "START"}, "s1"))["seq"] == 1
    assert (await client.update("r", 1))["value"] == "waiting"
    await server.advance(seconds=DELAY / 2)
    assert await client.quiet(0.05) == []  # not early: half the delay passed, nothing fired
    await server.advance(seconds=DELAY / 2)
    fired = await client.update("r", 2)  # advance returned after the commit: it is on its way
    assert fired["value"] == "fired" and fired["context"]["fired"] == 1
    await server.advance(seconds=10)
    assert await client.quiet(0.05) == []  # once
    log = flow.log("reminder", "r")
    assert [(r["seq"], r["origin"]) for r in log] == [(0, "client"), (1, "client"), (2, "timer")]
    assert log[2]["event"]["type"] == "xstate.after.200.reminder.waiting"
    assert log[2]["at"] == log[1]["at"] + DELAY  # exactly on time, in virtual time
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 0
    await client.close()


async def test_a_simulated_day_fires_every_timer_in_due_order_at_its_exact_time(
        flow, monkeypatch) -> None:
    monkeypatch.setenv("FLOWAPP_DELAY_MS", str(6 * 3600 * 1000))  # `after` six hours
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    for i in range(3):  # r_i asks for a PING at t0 + 2i h and STARTs an hour later
        await client.request({"type": "create", "id": i, "machine": "reminder", "instance": f"r{i}"})
        await client.send_event("reminder", f"r{i}", {"type": "PING_LATER"}, f"p{i}")
        await server.advance(hours=1)
        await client.send_event("reminder", f"r{i}", {"type": "START"}, f"s{i}")
        await server.advance(hours=1)
    start = flow.log("reminder", "r0")[1]["at"]
    now = await server.advance(days=1)
    assert now == start + 6 * 3600 + 86400
    fired = flow.query("SELECT instance, event, at FROM events WHERE origin='timer'")
    assert sorted((r["at"], r["instance"], "after" in r["event"]) for r in fired) == [
        (start + 6 * 3600, "r0", False), (start + 7 * 3600, "r0", True),
        (start + 8 * 3600, "r1", False), (start + 9 * 3600, "r1", True),
        (start + 10 * 3600, "r2", False), (start + 11 * 3600, "r2", True),
    ]
    for i in range(3):
        state = await client.request({"type": "get", "id": 9, "machine": "reminder", "instance": f"r{i}"})
        assert state["value"] == "fired" and state["context"] == {"fired": 1, "pings": 1}
    await client.close()


async def test_leaving_the_state_cancels_the_timer(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "reminder", "instance": "r"})
    await client.send_event("reminder", "r", {"type": "START"}, "s1")
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 1
    await client.send_event("reminder", "r", {"type": "STOP"}, "s2")
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 0  # deleted with the exit
    await client.send_event("reminder", "r", {"type": "PING_LATER"}, "s3")
    await client.send_event("reminder", "r", {"type": "UNPING"}, "s4")  # cancel("later")
    await server.advance(seconds=DELAY * 10)
    state = await client.request({"type": "get", "id": 2, "machine": "reminder", "instance": "r"})
    assert (state["value"], state["seq"], state["context"]) == ("idle", 4, {"fired": 0, "pings": 0})
    await client.close()


async def test_timers_survive_a_crash_and_fire_late_oldest_first(flow, monkeypatch) -> None:
    monkeypatch.setenv("FLOWAPP_DELAY_MS", "1500")
    server = flow.start(clock="manual")  # the clock stands still: none is due before the kill
    client = await WsClient.connect(server, mint("alice"))
    for i in range(5):
        await client.request({"type": "create", "id": i, "machine": "reminder", "instance": f"r{i}"})
        await client.send_event("reminder", f"r{i}", {"type": "PING_LATER"}, f"p{i}")
        await client.send_event("reminder", f"r{i}", {"type": "START"}, f"s{i}")
    await client.close()
    stopped_at = server.clock_time()
    server.proc.kill()  # kill -9
    server.proc.wait()
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 10
    listing = (await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "statesync_server", "timers",
         "--database-url", flow.db, "--instance", "r3"],
        capture_output=True, text=True, check=True, timeout=60)).stdout
    assert "xstate.after.1500.reminder.waiting" in listing and "later" in listing
    assert "(2 total)" in listing
    # back 1.6 s (virtual) later: all came due while the server was down
    restarted = flow.start("--clock-start", str(stopped_at + 1.6), clock="manual")
    await restarted.advance(seconds=0)  # settle: the late timers fire at start-up
    assert flow.query("SELECT count(*) FROM timers")[0][0] == 0
    client = await WsClient.connect(restarted, mint("alice"))
    for i in range(5):
        state = await client.request({"type": "get", "id": i, "machine": "reminder", "instance": f"r{i}"})
        assert state["value"] == "fired" and state["context"] == {"fired": 1, "pings": 1}
    fired = flow.query("SELECT instance, event, at FROM events WHERE origin='timer' ORDER BY seq")
    assert len(fired) == 10
    assert {r["at"] for r in fired} == {stopped_at + 1.6}  # handled at once, at start-up
    # oldest first: each instance's PING (started first) fired before its `after` timer
    seqs = flow.query("SELECT instance, event, seq FROM events WHERE origin='timer'")
    for i in range(5):
        mine = sorted((r["seq"], "after" in r["event"]) for r in seqs if r["instance"] == f"r{i}")
        assert [after for _seq, after in mine] == [False, True]
    assert "pending timers (10 due)" in restarted.log() or (  # PostgreSQL: cluster mode
        "took over 10 timers" in restarted.log())
    await client.close()
