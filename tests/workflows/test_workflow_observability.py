"""Operator logs and metrics of timers, effects and services on a real server: a line per
timer fired and per attempt (done, retry, failed), and counters that match them."""

from __future__ import annotations

from observability import records, sample, scrape, wait_records
from server_harness import WsClient, mint

DEBUG_JSON = ("--log-level", "debug", "--log-format", "json")


async def _create(client: WsClient, machine: str, instance: str, input: object = None) -> None:
    reply = await client.request({"type": "create", "id": f"c-{instance}", "machine": machine,
                                  "instance": instance, "input": input})
    assert reply["type"] == "created", reply


async def test_a_timer_fired_is_a_line_and_its_lateness_is_measured(flow) -> None:
    server = flow.start(*DEBUG_JSON)
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "reminder", "r")
    assert (await client.send_event("reminder", "r", {"type": "START"}, "s1"))["seq"] == 1

    [fired] = await wait_records(server, 1, "timer fired", machine="reminder", instance="r")
    assert fired["logger"] == "statesync.timers" and fired["level"] == "debug"
    assert fired["seq"] == 1 and fired["event_type"] == "xstate.after.200.reminder.waiting"
    assert fired["lateness_ms"] >= 0  # never early
    [applied] = await wait_records(server, 1, "transition", machine="reminder", instance="r",
                                   seq=2)
    assert applied["origin"] == "timer" and applied["state"] == "fired"
    assert applied["event_type"] == fired["event_type"]

    text = await scrape(server)
    assert sample(text, "statesync_timer_lateness_seconds_count") == 1
    assert sample(text, "statesync_events_applied_total", machine="reminder", origin="timer") == 1
    assert sample(text, "statesync_events_applied_total", machine="reminder", origin="client") == 2
    await client.close()


async def test_effect_attempts_retries_and_failures_are_lines_and_counts(flow) -> None:
    server = flow.start(*DEBUG_JSON)
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "notifier", "n")
    await client.send_event("notifier", "n", {"type": "FLAKY", "failures": 2}, "e1")  # 3rd works
    await client.send_event("notifier", "n", {"type": "FLAKY", "failures": 9}, "e2")  # never
    await _create(client, "job", "ok", {"x": 21})  # a service that succeeds

    lines = await wait_records(server, 6, "effect", machine="notifier", instance="n")
    await wait_records(server, 1, "effect", outcome="failed")
    by_seq = {seq: [(r["attempt"], r["outcome"], r["level"]) for r in lines if r["seq"] == seq]
              for seq in (1, 2)}
    assert by_seq == {
        1: [(1, "retry", "warning"), (2, "retry", "warning"), (3, "done", "debug")],
        2: [(1, "retry", "warning"), (2, "retry", "warning"), (3, "failed", "error")]}
    assert all(r["kind"] == "effect" and r["name"] == "flaky" and r["duration_ms"] >= 0
               and r["logger"] == "statesync.effects" for r in lines)
    assert [r.get("error") for r in lines if r["seq"] == 2] == [
        "RuntimeError: flaky failure 1", "RuntimeError: flaky failure 2",
        "RuntimeError: flaky failure 3"]
    assert "error" not in next(r for r in lines if r["outcome"] == "done")
    [service] = await wait_records(server, 1, "service", machine="job", instance="ok")
    assert (service["name"], service["outcome"], service["attempt"]) == ("work", "done", 1)
    assert len(records(server, "effect", machine="notifier")) == 6  # nothing else ran

    text = await scrape(server)
    labels = {"machine": "notifier", "kind": "effect", "name": "flaky"}
    assert sample(text, "statesync_effect_attempts_total", **labels, result="error") == 5  # 2 + 3
    assert sample(text, "statesync_effect_attempts_total", **labels, result="ok") == 1
    assert sample(text, "statesync_effect_failures_total", **labels) == 1
    assert sample(text, "statesync_effect_attempts_total", machine="job", kind="service",
                  name="work", result="ok") == 1
    await client.close()
