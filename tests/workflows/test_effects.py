"""Effects and invoked services: run after commit, retried with the same key, results as events.

The servers run on virtual time: retries and the per-run timeout happen when the test
advances the clock, at their exact times (no jitter on a manual clock)."""

from __future__ import annotations

import re

import httpx
import pytest
from server_harness import WsClient, mint

from statesync_server.auth import ADMIN_CLAIM


async def _create(client: WsClient, machine: str, instance: str, input=None) -> dict:
    reply = await client.request({"type": "create", "id": f"c-{instance}", "machine": machine,
                                  "instance": instance, "input": input})
    assert reply["type"] == "created", reply
    return reply


async def test_effect_runs_after_commit_with_a_stable_key(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "notifier", "n")
    ack = await client.send_event("notifier", "n", {"type": "NOTE", "text": "hi"}, "e1")
    await server.advance(seconds=0)  # settled: the effect ran and its outcome is recorded
    runs = flow.records("effect")
    assert [{k: v for k, v in r.items() if k != "at"} for r in runs] == [
        {"kind": "effect", "name": "note", "key": f"notifier/n/{ack['seq']}/0",
         "machine": "notifier", "instance": "n", "attempt": 1, "params": {"text": "hi"}}]
    assert flow.query("SELECT status, attempts FROM outbox")[0] == ("done", 1)  # the first try
    await client.close()


async def test_failures_retry_with_backoff_then_fail_and_are_listed(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "notifier", "n")
    await client.send_event("notifier", "n", {"type": "FLAKY", "failures": 2}, "e1")  # 3rd works
    await client.send_event("notifier", "n", {"type": "FLAKY", "failures": 9}, "e2")  # never
    start = await server.advance(seconds=0)

    def attempts() -> dict[str, list[int]]:
        by_key: dict[str, list[int]] = {}
        for run in flow.records("effect"):
            by_key.setdefault(run["key"], []).append(run["attempt"])
        return by_key

    def next_at() -> dict[int, float]:
        return {r["seq"]: r["next_at"] for r in flow.query("SELECT seq, next_at FROM outbox")}

    # Retry(backoff=0.05): the first retry 0.05 s after the failure, the second 0.1 s later
    assert attempts() == {"notifier/n/1/0": [1], "notifier/n/2/0": [1]}
    assert next_at() == {1: start + 0.05, 2: start + 0.05}
    await server.advance(seconds=0.049)
    assert attempts() == {"notifier/n/1/0": [1], "notifier/n/2/0": [1]}  # never early
    await server.advance(seconds=0.001)
    assert attempts() == {"notifier/n/1/0": [1, 2], "notifier/n/2/0": [1, 2]}
    assert next_at() == {1: pytest.approx(start + 0.15, abs=1e-6),
                         2: pytest.approx(start + 0.15, abs=1e-6)}  # 0.05 + 0.1 in floats
    await server.advance(seconds=1)
    assert attempts() == {"notifier/n/1/0": [1, 2, 3], "notifier/n/2/0": [1, 2, 3]}
    rows = {r["seq"]: dict(r) for r in flow.query("SELECT * FROM outbox")}
    assert rows[1]["status"] == "done" and rows[1]["attempts"] == 3  # as many as the log's lines
    assert rows[2]["status"] == "failed" and rows[2]["attempts"] == 3
    assert "flaky failure 3" in rows[2]["error"]
    # the operator's view
    import contextlib
    import io

    from statesync_server.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["effects", "--database-url", flow.db, "--failed"])
    text = out.getvalue()
    assert "notifier/n/2/0" in text and "flaky failure 3" in text and "notifier/n/1/0" not in text
    assert re.search(r"notifier/n/2/0\s.*\bfailed\s+3\s", text), text
    async with httpx.AsyncClient() as http:
        admin = {"Authorization": f"Bearer {mint('ops', **{ADMIN_CLAIM: True})}"}
        listed = (await http.get(f"{server.url}/v1/admin/instances/notifier/n/effects",
                                 headers=admin)).json()
    assert {e["key"]: e["attempts"] for e in listed["effects"]} == {
        "notifier/n/1/0": 3, "notifier/n/2/0": 3}
    await client.close()


async def test_a_run_that_exceeds_the_timeout_fails(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "notifier", "n")
    await client.send_event("notifier", "n", {"type": "SLOW", "seconds": 5}, "e1")  # timeout 0.5 s
    await server.advance(seconds=0.499)
    assert flow.query("SELECT status, attempts FROM outbox")[0] == ("pending", 0)  # still running
    await server.advance(seconds=0.001)
    assert flow.query("SELECT status, attempts FROM outbox")[0] == ("pending", 1)  # timed out
    await server.advance(seconds=5)  # the retries time out too
    assert flow.query("SELECT status FROM outbox")[0][0] == "failed"
    assert "timed out after 0.5 s" in flow.query("SELECT error FROM outbox")[0][0]
    assert [r["attempt"] for r in flow.records()] == [1, 2, 3]
    await client.close()


async def test_service_result_and_error_come_back_as_events(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "job", "ok", {"x": 21})
    await _create(client, "job", "bad", {"fail": True})
    await client.request({"type": "subscribe", "id": "s1", "machine": "job", "instance": "ok"})
    await client.request({"type": "subscribe", "id": "s2", "machine": "job", "instance": "bad"})
    await server.advance(seconds=1)  # each run takes 0.05 s; the failing one is retried twice
    done = await client.expect(lambda m: m["type"] == "update" and m["instance"] == "ok"
                               and m["value"] == "done")
    assert done["context"]["result"] == {"answer": 42}
    failed = await client.expect(lambda m: m["type"] == "update" and m["instance"] == "bad"
                                 and m["value"] == "failed")
    assert failed["context"]["error"] == {"message": "ValueError: work failed"}
    log = flow.log("job", "ok")
    assert [(r["origin"], r["event"]["type"], r["subject"]) for r in log][1] == (
        "service", "xstate.done.actor.worker", "work#worker")
    assert log[1]["at"] == log[0]["at"] + 0.05  # the service's (virtual) run time
    keys = {r["key"] for r in flow.records("service") if r["instance"] == "bad"}
    assert keys == {"job/bad/0/0"}  # every retry with the same key
    rows = {r["instance"]: (r["status"], r["attempts"])
            for r in flow.query("SELECT instance, status, attempts FROM outbox")}
    assert rows == {"ok": ("done", 1), "bad": ("failed", 3)}  # Retry(max_attempts=3)
    async with httpx.AsyncClient() as http:
        http_log = (await http.get(f"{server.url}/v1/instances/job/ok/events",
                                   headers={"Authorization": f"Bearer {mint('alice')}"})).json()
    assert [(e["origin"], e["subject"]) for e in http_log["entries"]] == [
        ("client", None), ("service", "work#worker")]
    await client.close()


async def test_leaving_the_invoking_state_cancels_and_drops_the_late_result(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "job", "j", {"x": 1, "seconds": 0.3})
    assert (await client.send_event("job", "j", {"type": "CANCEL"}, "e1"))["seq"] == 1
    status = flow.query("SELECT status FROM outbox")[0][0]
    assert status == "cancelled"
    # re-invoke: the new invocation's result is taken, the first one's never
    await client.send_event("job", "j", {"type": "RESUME"}, "e2")
    await server.advance(seconds=0.3)
    state = await client.request({"type": "get", "id": "g", "machine": "job", "instance": "j"})
    assert state["value"] == "done" and state["seq"] == 3
    log = flow.log("job", "j")
    assert [r["event"]["type"] for r in log] == ["xstate.init", "CANCEL", "RESUME",
                                                "xstate.done.actor.worker"]
    assert log[3]["event_id"] == "~service:2/0"  # the second invocation's
    await client.close()


async def test_send_can_wait_for_settle(flow) -> None:
    server = flow.start()  # the wall clock: a send with `settle` waits for the real 0.2 s run
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "job", "j", {"x": 5, "seconds": 0.2})
    await client.send_event("job", "j", {"type": "CANCEL"}, "e0")
    await client.send({"type": "send", "machine": "job", "instance": "j",
                       "event": {"type": "RESUME"}, "event_id": "e1", "settle": True})
    ack = await client.expect(lambda m: m.get("event_id") == "e1", timeout=30)
    assert ack["type"] == "ack" and ack["settled"] is True and ack["seq"] == 2
    assert ack["state"]["value"] == "done" and ack["state"]["context"]["result"] == {"answer": 10}
    # over HTTP too
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/v1/instances/job/j/events",
            headers={"Authorization": f"Bearer {mint('alice')}"},
            json={"event": {"type": "AGAIN"}, "event_id": "e3", "settle": True})
    body = response.json()
    assert response.status_code == 200, body
    assert body["settled"] is True and body["seq"] == 4
    assert body["state"]["value"] == "done" and body["state"]["seq"] == 5
    await client.close()
