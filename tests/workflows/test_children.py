"""Child machines as persistent child instances (docs/workflows.md, "Child machines"): created
with the parent's transition, talking to it through the outbox, ended or stopped once, across
a SIGKILL of a real server; bad input answered or logged, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from server_harness import WsClient, mint

CHILDAPP = str(Path(__file__).parent / "apps" / "childapp.py")
CHILD = "o1~pay~0"  # the order's instance name ~ the invoke id ~ the order's seq that invoked it


async def _create(client: WsClient, machine: str, instance: str, input=None) -> dict:
    reply = await client.request({"type": "create", "id": f"c-{machine}-{instance}",
                                  "machine": machine, "instance": instance, "input": input})
    assert reply["type"] == "created", reply
    return reply


async def _get(client: WsClient, machine: str, instance: str) -> dict:
    return await client.request({"type": "get", "id": f"g-{machine}-{instance}",
                                 "machine": machine, "instance": instance})


def _types(flow, machine: str, instance: str) -> list[str]:
    return [row["event"]["type"] for row in flow.log(machine, instance)]


def _status(flow, machine: str, instance: str) -> str | None:
    rows = flow.query("SELECT status FROM instances WHERE machine=? AND name=?", machine, instance)
    return rows[0][0] if rows else None


async def test_invoked_child_survives_a_restart_and_ends_into_its_parent_once(flow) -> None:
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "order", "o1", {"amount": 42})
    # the child exists once the parent's creation committed (delivered from the outbox)
    flow.wait(lambda: _status(flow, "payment", CHILD) == "active", what="the child instance")
    child = flow.log("payment", CHILD)[0]
    assert (child["origin"], child["subject"]) == ("instance", "order/o1")
    assert child["event"]["input"] == {"amount": 42}
    assert (await _get(alice, "payment", CHILD))["value"] == "pending"
    # forwarded to the child, which is governed by its own allow_read
    await alice.send_event("order", "o1", {"type": "PING"}, "ping-1")
    flow.wait(lambda: "PING" in _types(flow, "payment", CHILD), what="the forwarded PING")
    bob = await WsClient.connect(server, mint("bob"))
    refused = await _get(bob, "payment", CHILD)
    assert refused["type"] == "error" and refused["code"] in ("forbidden", "not-found"), refused
    await bob.close()
    await alice.close()

    server.proc.kill()  # SIGKILL
    server.proc.wait()
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    ack = await alice.send_event("order", "o1", {"type": "NUDGE"}, "nudge-1")
    assert ack["type"] == "ack", ack
    flow.wait(lambda: _status(flow, "payment", CHILD) == "done", what="the child to end")
    flow.wait(lambda: (s := _get_sync(flow, "order", "o1")) and s["value"] == "paid",
              what="the parent to take the done event")
    state = await _get(alice, "order", "o1")
    assert state["context"]["receipt"] == {"ok": True, "amount": 42, "pings": 1}
    assert state["context"]["progress"] == [42]  # send_parent reached the parent
    server.proc.kill()  # and again, after everything: nothing is delivered twice
    server.proc.wait()
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _get(alice, "order", "o1")
    types = _types(flow, "order", "o1")
    assert types.count("xstate.done.actor.pay") == 1 and types.count("PROGRESS") == 1, types
    assert _types(flow, "payment", CHILD) == ["xstate.init", "PING", "APPROVE"]
    child_rows = flow.query("SELECT kind, status FROM outbox WHERE kind='child'")
    assert [tuple(r) for r in child_rows] == [("child", "done")]
    assert {r[0] for r in flow.query("SELECT status FROM outbox")} == {"done"}
    await alice.close()


def _get_sync(flow, machine: str, instance: str) -> dict | None:
    rows = flow.query("SELECT snapshot FROM instances WHERE machine=? AND name=?", machine, instance)
    return json.loads(rows[0][0]) if rows else None


async def test_leaving_the_invoking_state_stops_the_child_and_its_timers(flow) -> None:
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "order", "o1", {"amount": 7})
    flow.wait(lambda: _status(flow, "payment", CHILD) == "active", what="the child instance")
    assert flow.query("SELECT COUNT(*) FROM timers WHERE instance=?", CHILD)[0][0] == 1
    await alice.send_event("order", "o1", {"type": "CANCEL"}, "cancel-1")
    flow.wait(lambda: _status(flow, "payment", CHILD) == "stopped", what="the child stopped")
    assert flow.query("SELECT COUNT(*) FROM timers")[0][0] == 0
    assert _types(flow, "payment", CHILD) == ["xstate.init", "xstate.stop"]
    checkpoint = flow.query("SELECT snapshot FROM checkpoints WHERE instance=? AND seq=1", CHILD)
    assert json.loads(checkpoint[0][0])["status"] == "stopped"  # the history replays it exactly
    # a stopped child takes no more events, and its parent gets no done event
    reply = await alice.send_event("payment", CHILD, {"type": "APPROVE"}, "late-1")
    assert reply["type"] == "reject", reply
    assert "xstate.done.actor.pay" not in _types(flow, "order", "o1")
    assert (await _get(alice, "order", "o1"))["value"] == "cancelled"
    statuses = dict(tuple(r) for r in flow.query("SELECT kind, status FROM outbox"))
    assert statuses == {"child": "cancelled", "message": "done"}
    await alice.close()


async def test_spawned_by_name_then_stopped_and_a_failing_child(flow) -> None:
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "wallet", "w")
    await alice.send_event("wallet", "w", {"type": "SPAWN"}, "spawn-1")
    flow.wait(lambda: _status(flow, "payment", "w~p1~1") == "active", what="the spawned child")
    await alice.send_event("wallet", "w", {"type": "STOP"}, "stop-1")
    flow.wait(lambda: _status(flow, "payment", "w~p1~1") == "stopped", what="stop_child")
    # the same id again is a new child instance (named by the spawning transition's seq)
    await alice.send_event("wallet", "w", {"type": "SPAWN"}, "spawn-2")
    flow.wait(lambda: _status(flow, "payment", "w~p1~3") == "active", what="the second child")

    # a child that ends in error: the parent's onError gets xstate.error.actor.<id>
    await _create(alice, "order", "o2")
    flow.wait(lambda: _status(flow, "payment", "o2~pay~0") == "active", what="o2's child")
    await alice.send_event("order", "o2", {"type": "CHARGE"}, "charge-1")
    flow.wait(lambda: _status(flow, "payment", "o2~pay~0") == "error", what="the child error")
    flow.wait(lambda: (s := _get_sync(flow, "order", "o2")) and s["value"] == "failed",
              what="the parent's onError")
    assert _types(flow, "order", "o2").count("xstate.error.actor.pay") == 1
    await alice.close()


async def test_bad_child_addresses_and_a_cycle_of_children_never_crash(flow) -> None:
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "order", "o1")
    # send_to a child id the machine does not have: a structured refusal, nothing changes
    reply = await alice.send_event("order", "o1", {"type": "POKE"}, "poke-1")
    assert reply["type"] == "reject" and reply["code"] == "invalid-event", reply
    assert "nobody" in reply["message"]
    # send_parent from an instance nobody started: refused the same way
    await _create(alice, "payment", "alone")
    reply = await alice.send_event("payment", "alone", {"type": "APPROVE"}, "approve-1")
    assert reply["type"] == "reject" and reply["code"] == "invalid-event", reply
    assert (await _get(alice, "payment", "alone"))["value"] == "pending"
    # a machine that invokes itself: one level per child until the name is too long; the
    # deepest parent gets the error event, the server keeps serving
    await _create(alice, "loop", "l")
    flow.wait(lambda: flow.query("SELECT COUNT(*) FROM instances WHERE machine='loop' AND "
                                 "snapshot LIKE '%broke%'")[0][0] == 1, what="the deepest error")
    count = flow.query("SELECT COUNT(*) FROM instances WHERE machine='loop'")[0][0]
    # "l", then 8 characters ("~again~0") per level: level 24 (193 characters) would start a
    # child named with 201, so its own creation is refused and level 23 gets the error event
    assert count == 24
    failed = flow.query("SELECT error FROM outbox WHERE kind='child' AND status='failed'")
    assert len(failed) == 1 and "invalid-event" in failed[0][0]
    assert (await _get(alice, "order", "o1"))["value"] == "paying"
    await alice.close()


async def test_on_snapshot_hears_the_child_start_and_change_then_its_end(flow) -> None:
    """XState's invoke.onSnapshot (invoke.test.ts): the parent gets the child's initial snapshot
    and each change while it is active (`xstate.snapshot.<id>`), then `xstate.done.actor.<id>`."""
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "monitor", "m1")
    child = "m1~pay~0"
    flow.wait(lambda: (s := _get_sync(flow, "monitor", "m1")) and s["context"]["seen"],
              what="the child's first snapshot")
    await alice.send_event("monitor", "m1", {"type": "PING"}, "ping-1")
    flow.wait(lambda: len(_get_sync(flow, "monitor", "m1")["context"]["seen"]) == 2,
              what="the child's changed snapshot")
    await alice.send_event("monitor", "m1", {"type": "NUDGE"}, "nudge-1")
    flow.wait(lambda: _get_sync(flow, "monitor", "m1")["value"] == "paid", what="the done event")
    state = await _get(alice, "monitor", "m1")
    assert state["context"]["seen"] == [["pending", 0], ["pending", 1]]
    assert state["context"]["receipt"] == {"ok": True, "amount": 0, "pings": 1}
    types = _types(flow, "monitor", "m1")
    assert types.count("xstate.snapshot.pay") == 2 and types.count("xstate.done.actor.pay") == 1
    assert _types(flow, "payment", child) == ["xstate.init", "PING", "APPROVE"]
    await alice.close()



async def test_a_child_instance_name_is_reserved_for_its_parent(flow) -> None:
    """Issue 22: eve created `payment/o2~pay~0` before alice's order o2 invoked it, and the order
    adopted eve's instance (alice's card went to eve). A client may not create a name of the
    child form, over WebSocket or HTTP; the parent's child is its own."""
    import httpx

    server = flow.start(app=CHILDAPP)
    eve = await WsClient.connect(server, mint("eve"))
    for name in ("o2~pay~0", "o2~pay~17", "x~y~z~3"):
        reply = await eve.request({"type": "create", "id": f"squat-{name}", "machine": "payment",
                                   "instance": name, "input": {"amount": 1}})
        assert reply["type"] == "error" and reply["code"] == "invalid-message", reply
        assert "reserved" in reply["message"], reply
    async with httpx.AsyncClient(base_url=server.url,
                                 headers={"authorization": f"Bearer {mint('eve')}"}) as http:
        response = await http.post("/v1/instances/payment/o2~pay~0", json={"input": {}})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid-message"
    # names merely holding `~` are anyone's
    await _create(eve, "payment", "eve~notes")
    await _create(eve, "payment", "eve~1~x")
    assert _status(flow, "payment", "o2~pay~0") is None
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "order", "o2", {"amount": 9})
    flow.wait(lambda: _status(flow, "payment", "o2~pay~0") == "active", what="alice's child")
    child = flow.log("payment", "o2~pay~0")[0]
    assert (child["origin"], child["subject"]) == ("instance", "order/o2")
    await eve.close()
    await alice.close()


async def test_a_taken_child_name_is_an_error_to_the_parent_never_adopted(flow) -> None:
    """monitor/o3 and order/o3 name their `pay` children alike (`payment/o3~pay~0`): the
    second parent gets `xstate.error.actor.pay` (its onError), never the first one's child."""
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "monitor", "o3")
    flow.wait(lambda: _status(flow, "payment", "o3~pay~0") == "active", what="monitor's child")
    await _create(alice, "order", "o3", {"amount": 5})
    flow.wait(lambda: (s := _get_sync(flow, "order", "o3")) and s["value"] == "failed",
              what="the order's onError")
    error = (await _get(alice, "order", "o3"))["context"]["error"]
    assert "already-exists" in error["message"], error
    assert _types(flow, "order", "o3") == ["xstate.init", "xstate.error.actor.pay"]
    child = flow.log("payment", "o3~pay~0")
    assert [(r["origin"], r["subject"]) for r in child] == [("instance", "monitor/o3")]
    # the child is still the monitor's, and only the monitor's
    await alice.send_event("monitor", "o3", {"type": "NUDGE"}, "nudge-o3")
    flow.wait(lambda: _get_sync(flow, "monitor", "o3")["value"] == "paid", what="monitor's child")
    assert "xstate.done.actor.pay" not in _types(flow, "order", "o3")


def _pings(flow, instance: str) -> int:
    return _types(flow, "payment", instance).count("PING")


async def test_computed_child_ids_a_durable_delayed_send_to_and_send_to_self(flow) -> None:
    """Issue 22: a child id computed from the event names the child instance; a delayed
    send_to is a timer row of the sender that survives a SIGKILL and fires once, at its time,
    into the child it named (cancel(id) removes it; a child stopped meanwhile gets nothing);
    send_to(SELF) reaches the machine itself, now and delayed."""
    server = flow.start(app=CHILDAPP, clock="manual")
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "crew", "c")
    await alice.send_event("crew", "c", {"type": "HIRE", "name": "ann", "amount": 3}, "hire-ann")
    flow.wait(lambda: _status(flow, "payment", "c~ann~1") == "active", what="the child named by the event")
    assert flow.log("payment", "c~ann~1")[0]["event"]["input"] == {"amount": 3}
    await alice.send_event("crew", "c", {"type": "REMIND", "name": "ann"}, "remind-1")
    timers = flow.query("SELECT instance, timer_id FROM timers WHERE machine='crew'")
    assert [tuple(r) for r in timers] == [("c", "remind")]
    await alice.close()
    stopped_at = server.clock_time()
    server.proc.kill()  # SIGKILL: the delayed send is a row, not a task
    server.proc.wait()

    server = flow.start("--clock-start", str(stopped_at), app=CHILDAPP, clock="manual")
    await server.advance(seconds=59)
    assert _pings(flow, "c~ann~1") == 0  # not early
    await server.advance(seconds=1)
    flow.wait(lambda: _pings(flow, "c~ann~1") == 1, what="the delayed PING")
    assert flow.query("SELECT COUNT(*) FROM timers WHERE machine='crew'")[0][0] == 0
    assert "statesync.deliver" not in _types(flow, "crew", "c")  # the timer is no event of the crew

    alice = await WsClient.connect(server, mint("alice"))
    await alice.send_event("crew", "c", {"type": "REMIND", "name": "ann"}, "remind-2")
    await alice.send_event("crew", "c", {"type": "FORGET"}, "forget-2")  # cancel("remind")
    assert flow.query("SELECT COUNT(*) FROM timers WHERE machine='crew'")[0][0] == 0
    await alice.send_event("crew", "c", {"type": "REMIND", "name": "ann"}, "remind-3")
    await alice.send_event("crew", "c", {"type": "FIRE", "name": "ann"}, "fire-3")  # stop_child(fn)
    flow.wait(lambda: _status(flow, "payment", "c~ann~1") == "stopped", what="the computed stop")
    await server.advance(seconds=120)
    assert _pings(flow, "c~ann~1") == 1  # cancelled, then sent to a stopped child: dropped

    await alice.send_event("crew", "c", {"type": "NUDGE_ME"}, "nudge-1")
    flow.wait(lambda: (s := _get_sync(flow, "crew", "c")) and s["context"]["nudges"] == 1,
              what="send_to(SELF)")
    await server.advance(seconds=1)
    flow.wait(lambda: (s := _get_sync(flow, "crew", "c")) and s["context"]["nudges"] == 2,
              what="the delayed send_to(SELF)")
    nudges = [r for r in flow.log("crew", "c") if r["event"]["type"] == "NUDGED"]
    assert [r["origin"] for r in nudges] == ["instance", "instance"]
    await alice.close()


async def test_a_child_spawned_with_sync_snapshot_sends_its_snapshots_across_a_restart(flow) -> None:
    """Issue 22: spawn_child(..., sync_snapshot=True) (with a computed id): the parent gets
    `xstate.snapshot.<id>` for the child's first snapshot and each change while it is active,
    also after a SIGKILL (the child reads it from the row that created it)."""
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await _create(alice, "crew", "w")
    await alice.send_event("crew", "w", {"type": "WATCH", "name": "bo"}, "watch-1")
    flow.wait(lambda: (s := _get_sync(flow, "crew", "w")) and s["context"]["seen"] == [["bo", 0]],
              what="the child's first snapshot")
    await alice.send_event("crew", "w", {"type": "POKE", "name": "bo"}, "poke-1")
    flow.wait(lambda: len(_get_sync(flow, "crew", "w")["context"]["seen"]) == 2, what="a change")
    await alice.close()
    server.proc.kill()
    server.proc.wait()
    server = flow.start(app=CHILDAPP)
    alice = await WsClient.connect(server, mint("alice"))
    await alice.send_event("crew", "w", {"type": "POKE", "name": "bo"}, "poke-2")
    flow.wait(lambda: len(_get_sync(flow, "crew", "w")["context"]["seen"]) == 3, what="after the restart")
    assert _get_sync(flow, "crew", "w")["context"]["seen"] == [["bo", 0], ["bo", 1], ["bo", 2]]
    assert _types(flow, "payment", "w~bo~1") == ["xstate.init", "PING", "PING"]
    await alice.close()
