"""Operator logs and metrics of a real server: one JSON line per transition and rejection with
its fields and nothing private, `/metrics` counters moving by exactly the events sent, and
`/metrics` closed to everyone but admins and the metrics token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from observability import admin_headers, records, sample, scrape, wait_records
from server_harness import ServerProcess, WsClient, mint
from statesync_server.auth import ADMIN_CLAIM
from statesync_server.metrics import Metrics

TRANSITION_FIELDS = {"time", "level", "logger", "message", "machine", "instance", "seq",
                     "event_type", "origin", "state", "duration_ms"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The test app with statesync's debug lines as JSON (this module's own server: the
    metrics tests count everything it did)."""
    db = tmp_path_factory.mktemp("observability") / "test.db"
    process = ServerProcess(db, "--log-level", "debug", "--log-format", "json").start()
    yield process
    process.stop()


@pytest.fixture
async def alice(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server, mint("alice"))
    yield client
    await client.close()


async def _create(client: WsClient, machine: str, instance: str, input: object = None) -> None:
    reply = await client.request({"type": "create", "id": f"c-{instance}", "machine": machine,
                                  "instance": instance, "input": input})
    assert reply["type"] == "created", reply


async def _barrier(server: ServerProcess, client: WsClient, name: str) -> None:
    """Apply one more transition and wait for its line: every line logged before is in."""
    await _create(client, "counter", name)
    await wait_records(server, 1, "transition", machine="counter", instance=name)


async def test_a_transition_is_one_json_line_with_its_fields_and_nothing_private(
        server: ServerProcess, alice: WsClient, name: str) -> None:
    await _create(alice, "doc", name, {"owner": "alice"})
    ack = await alice.send_event("doc", name, {"type": "EDIT", "body": "TOP-SECRET-BODY"}, "e1")
    assert ack["type"] == "ack" and ack["seq"] == 1
    await _barrier(server, alice, f"{name}-barrier")

    lines = records(server, "transition", machine="doc", instance=name)
    assert [(r["seq"], r["event_type"]) for r in lines] == [(0, "xstate.init"), (1, "EDIT")]
    for line in lines:
        assert set(line) == TRANSITION_FIELDS
        assert line["level"] == "debug" and line["logger"] == "statesync.transitions"
        assert line["origin"] == "client" and line["state"] == "draft"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    log = server.log()
    assert "TOP-SECRET-BODY" not in log and "s3cr3t" not in log  # payloads, private context


async def test_each_rejected_event_is_one_line_with_its_code(
        server: ServerProcess, alice: WsClient, name: str) -> None:
    bob = await WsClient.connect(server, mint("bob"))
    await _create(alice, "doc", name, {"owner": "alice"})
    await _create(alice, "counter", name)
    assert (await bob.send_event("doc", name, {"type": "EDIT", "body": "x"}, "b1"))["code"] == "forbidden"
    assert (await alice.send_event("counter", name, {"type": "NOPE"}, "a1"))["code"] == "event-not-accepted"
    hostile = "H\n" + "x" * 300
    assert (await alice.send_event("counter", name, {"type": hostile}, "a2"))["code"] == "event-not-accepted"
    assert (await alice.send_event("counter", f"{name}-none", {"type": "INC"}, "a3"))["code"] == "not-found"
    await _barrier(server, alice, f"{name}-barrier")

    lines = records(server, "rejected", logger="statesync.rejections")
    mine = [r for r in lines if r["instance"] in (name, f"{name}-none")]
    assert [(r["machine"], r["event_type"][:4], r["code"]) for r in mine] == [
        ("doc", "EDIT", "forbidden"), ("counter", "NOPE", "event-not-accepted"),
        ("counter", "H\nxx", "event-not-accepted"), ("counter", "INC", "not-found")]
    assert mine[2]["event_type"] == "H\n" + "x" * 198 + "..."  # clipped to 200 characters
    assert all(r["origin"] == "client" and r["duration_ms"] >= 0 for r in mine)
    assert not records(server, "transition", machine="counter", instance=f"{name}-none")
    await bob.close()


async def test_counters_move_by_exactly_the_events_applied_and_rejected(
        server: ServerProcess, alice: WsClient, name: str) -> None:
    before = await scrape(server)
    await _create(alice, "counter", name)
    for i in range(5):
        assert (await alice.send_event("counter", name, {"type": "INC"}, f"i{i}"))["type"] == "ack"
    for i in range(3):
        reply = await alice.send_event("counter", name, {"type": "NOPE"}, f"n{i}")
        assert reply["code"] == "event-not-accepted"
    reply = await alice.send_event("doc", f"{name}-none", {"type": "EDIT", "body": "x"}, "d")
    assert reply["code"] == "not-found"
    after = await scrape(server)

    def delta(metric: str, **labels: str) -> float:
        return sample(after, metric, **labels) - sample(before, metric, **labels)

    assert delta("statesync_events_applied_total", machine="counter", origin="client") == 6
    assert delta("statesync_events_rejected_total", code="event-not-accepted") == 3
    assert delta("statesync_events_rejected_total", code="not-found") == 1
    # one write per transaction: each event waited for its ack before the next was sent
    assert delta("statesync_commit_batch_size_sum") == 6
    assert delta("statesync_commit_batch_size_count") == 6
    assert delta("statesync_commit_seconds_count") == 6
    assert delta("statesync_commit_seconds_sum") > 0


async def test_gauges_follow_connections_and_subscriptions(server: ServerProcess, name: str) -> None:
    async def gauges(connections: float, subscriptions: float) -> None:
        for _ in range(250):  # the server notices closed sockets on its own time: poll
            text = await scrape(server)
            if (sample(text, "statesync_connections"),
                    sample(text, "statesync_subscriptions")) == (connections, subscriptions):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {connections} connections, {subscriptions} "
                             f"subscriptions:\n{text}")

    await gauges(0, 0)
    first = await WsClient.connect(server, mint("carol"))
    second = await WsClient.connect(server, mint("carol"))
    await _create(first, "counter", name)
    reply = await second.request({"type": "subscribe", "id": "s", "machine": "counter",
                                  "instance": name})
    assert reply["type"] == "subscribed"
    await gauges(2, 1)
    await second.close()
    await gauges(1, 0)
    await first.close()
    await gauges(0, 0)


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server scraped with a static metrics token, logging text lines."""
    db = tmp_path_factory.mktemp("observability") / "token.db"
    process = ServerProcess(db, "--log-level", "debug",
                            "--metrics-token", "scrape-secret-0123456789").start()
    yield process
    process.stop()


async def test_metrics_need_an_admin_token_or_the_metrics_token(
        server: ServerProcess, token_server: ServerProcess) -> None:
    cases = [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": "Bearer scrape-secret-0123456789"}, 401),  # not this server's
        ({"Authorization": f"Bearer {mint('ops', ttl=-5, **{ADMIN_CLAIM: True})}"}, 401),
        ({"Authorization": f"Bearer {mint('alice')}"}, 403),
        ({"Authorization": f"Bearer {mint('alice', role='admin')}"}, 403),
        ({"Authorization": f"Bearer {mint('anon:x', anon=True, **{ADMIN_CLAIM: True})}"}, 403),
        (admin_headers(), 200),
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        for headers, status in cases:
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == status, (headers, response.text)
            if status != 200:
                assert "statesync_events" not in response.text
                assert response.json()["error"]["code"] in ("unauthenticated", "forbidden")
    async with httpx.AsyncClient(base_url=token_server.url, timeout=5) as http:
        ok = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
        assert ok.status_code == 200 and "statesync_events_applied_total" in ok.text
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-012345678"})
        assert wrong.status_code == 401
        assert (await http.get("/metrics", headers=admin_headers())).status_code == 200


async def test_text_lines_quote_what_a_client_chose(token_server: ServerProcess, name: str) -> None:
    client = await WsClient.connect(token_server, mint("alice"))
    await _create(client, "counter", name)
    reply = await client.send_event("counter", name, {"type": "X\nforged line"}, "h1")
    assert reply["code"] == "event-not-accepted"
    await client.send_event("counter", name, {"type": "INC"}, "h2")
    line = f"transition machine=counter instance={name} seq=1 event_type=INC origin=client"
    for _ in range(500):
        if any(line in text for text in token_server.lines):
            break
        await asyncio.sleep(0.02)
    rejected = [t for t in token_server.lines if f"instance={name} " in t and "rejected" in t]
    assert len(rejected) == 1
    assert 'event_type="X\\nforged line" origin=client code=event-not-accepted' in rejected[0]
    assert not any(t.startswith("forged") for t in token_server.lines)
    await client.close()


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # no "Duplicated timeseries" between servers
    first.rejected("forbidden")
    first.applied("counter", ["client", "client", "timer"])
    assert first.registry.get_sample_value("statesync_events_rejected_total",
                                           {"code": "forbidden"}) == 1
    assert first.registry.get_sample_value("statesync_events_applied_total",
                                           {"machine": "counter", "origin": "client"}) == 2
    assert second.registry.get_sample_value("statesync_events_rejected_total",
                                            {"code": "forbidden"}) is None
