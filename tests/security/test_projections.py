"""Reader-aware projections: `public_context(context, reader)` on every read path. The
customer sees their order's delivery address, the courier (who may read the order too)
never does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from leak_harness import (
    Haystack,
    Http,
    RecordingWs,
    ServerProcess,
    mint,
    query_params,
    run_with_log,
    secret,
    start_secret_server,
)

PATHS = ("ws-get", "http-get", "ws-live", "ws-since", "http-log", "http-at", "ws-query",
         "http-query")
QUERIES = (("status", "eq", "shipped"), ("status", "gte", ""), ("customer", "gte", ""))


@dataclass
class Delivery:
    first_address: str
    moved_address: str
    order: str
    last_seq: int = 0
    received: dict[tuple[str, str], Haystack] = field(default_factory=dict)


async def _deliver(server: ServerProcess) -> Delivery:
    run = uuid.uuid4().hex[:8]
    subjects = {"customer": f"cathy-{run}", "courier": f"kurt-{run}"}
    d = Delivery(secret("address"), secret("moved"), f"order-{run}")
    received = {(who, path): d.received.setdefault((who, path), Haystack())
                for who in subjects for path in PATHS}
    ws = {who: await RecordingWs.open(server, mint(sub), received[(who, "ws-live")])
          for who, sub in subjects.items()}
    reply = await ws["customer"].call({
        "type": "create", "machine": "order", "instance": d.order,
        "input": {"customer": subjects["customer"], "courier": subjects["courier"],
                  "address": d.first_address, "items": ["tea"]}})
    assert reply["type"] == "created", reply
    for client in ws.values():
        await client.call({"type": "subscribe", "machine": "order", "instance": d.order})
    for who, event in (("customer", {"type": "ADD_ITEM", "item": "cake"}),
                       ("customer", {"type": "MOVE", "address": d.moved_address}),
                       ("courier", {"type": "SHIP"})):
        ack = await ws[who].send_event("order", d.order, event, str(uuid.uuid4()))
        assert ack["type"] == "ack", ack
        d.last_seq = ack["seq"]
    for who, client in ws.items():
        await client.update(d.order, d.last_seq)
        await client.quiet(0.2)

        client.record(received[(who, "ws-get")])
        await client.call({"type": "get", "machine": "order", "instance": d.order})
        client.record(received[(who, "ws-since")])
        await client.call({"type": "unsubscribe", "machine": "order", "instance": d.order})
        await client.call({"type": "subscribe", "machine": "order", "instance": d.order,
                           "since": -1})
        await client.update(d.order, d.last_seq)
        client.record(received[(who, "ws-query")])
        for index, op, value in QUERIES:
            await client.query(machine="order", index=index, op=op, value=value)
        await client.close()

        http = Http(server, mint(subjects[who]), received[(who, "http-get")])
        await http.get(f"/v1/instances/order/{d.order}")
        http.haystack = received[(who, "http-log")]
        await http.get(f"/v1/instances/order/{d.order}/events")
        http.haystack = received[(who, "http-at")]
        for seq in range(d.last_seq + 1):
            await http.get(f"/v1/instances/order/{d.order}/at/{seq}")
        http.haystack = received[(who, "http-query")]
        for index, op, value in QUERIES:
            await http.get(f"/v1/query/order/{index}", **query_params(op, value))
        await http.close()
    return d


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivery]:
    server = start_secret_server(tmp_path_factory.mktemp("projections") / "orders.db")
    try:
        yield run_with_log(server, _deliver(server))
    finally:
        server.stop()


def _contexts(haystack: Haystack) -> list[dict]:
    """Every public context in what was received (states, updates, log entries, items)."""
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("context"), dict) and "status" in node["context"]:
                found.append(node["context"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for text in haystack.texts:
        walk(json.loads(text))
    return found


# What the customer must see on each path: the address as of each state it was sent.
CUSTOMER_SEES = {
    "ws-get": {"moved"}, "http-get": {"moved"}, "ws-query": {"moved"}, "http-query": {"moved"},
    "ws-live": {"address", "moved"}, "ws-since": {"address", "moved"},
    "http-log": {"address", "moved"}, "http-at": {"address", "moved"},
}


@pytest.mark.parametrize("path", PATHS)
def test_the_customer_sees_the_address(delivery: Delivery, path: str) -> None:
    addresses = {"address": delivery.first_address, "moved": delivery.moved_address}
    contexts = _contexts(delivery.received[("customer", path)])
    assert contexts, f"the customer got no state on {path}"
    shown = {c.get("address") for c in contexts}
    assert shown == {addresses[k] for k in CUSTOMER_SEES[path]}, contexts


@pytest.mark.parametrize("path", PATHS)
def test_the_courier_never_sees_the_address(delivery: Delivery, path: str) -> None:
    haystack = delivery.received[("courier", path)]
    contexts = _contexts(haystack)
    assert contexts, f"the courier got no state on {path}"
    assert all("address" not in c and c["items"] for c in contexts), contexts
    hits = haystack.found([delivery.first_address, delivery.moved_address])
    assert not hits, "\n".join(hits[:5])
