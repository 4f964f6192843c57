"""Nothing private reaches a reader, on any read path (docs/security.md, "The privacy model").

An owner plants unique markers (`SECRET-...`) everywhere private data lives: the creation
input (card number, account, PIN, the owner's own subject), the private context, event
payloads, private index values, and the public fields (title, public tag) of a vault the
reader may not read. Then a reader of one vault and a subject who may read nothing exercise
every read path, every byte they receive is kept, and no marker may appear in it, not even
inside a base64-decoded cursor. The owner, granted `allow_read_history`, does get the raw
events, so the test cannot pass by answering nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

CALLERS = ("reader", "nobody")
PATHS = ("ws-get", "ws-subscribe-live", "ws-subscribe-since", "http-get", "http-log",
         "http-at", "ws-query", "http-query", "ws-errors", "http-errors")
INDEXES = ("owner", "account", "pin", "title", "tag")
SWEEPS: tuple[tuple[str, Any], ...] = (
    ("gte", ""), ("gt", ""), ("lt", "\uffff"), ("lte", "zzzz"), ("prefix", ""),
    ("prefix", "SECRET"), ("ne", "x"), ("ne", 0), ("eq", "guess"), ("gte", -1e300),
)
MAX_PAGES = 40


@dataclass
class World:
    markers: dict[str, str]
    names: dict[str, str]  # "shared" (the reader may read it), "hidden" (nobody but the owner)
    last_seq: dict[str, int]
    event_ids: dict[str, list[str]]
    received: dict[tuple[str, str], Haystack] = field(default_factory=dict)
    reader_log: list[dict[str, Any]] = field(default_factory=list)
    reader_live_seqs: list[int] = field(default_factory=list)
    owner_log: list[dict[str, Any]] = field(default_factory=list)


def _vault_input(markers: dict[str, str], suffix: str, readers: list[str],
                 title: str, tag: str) -> dict[str, Any]:
    return {"owner": markers["owner"], "title": title, "tag": tag, "readers": readers,
            "card": markers[f"card{suffix}"], "account": markers[f"account{suffix}"],
            "pin": markers[f"pin{suffix}"]}


async def _plant(server: ServerProcess, world: World, reader: str,
                 live: dict[str, RecordingWs]) -> None:
    """The owner creates both vaults and sends events carrying markers; `live` sockets are
    subscribed (without `since`) before the first event."""
    m = world.markers
    owner = await RecordingWs.open(server, mint(m["owner"]))
    shared, hidden = world.names["shared"], world.names["hidden"]
    inputs = {
        shared: _vault_input(m, "", [reader], "Shared plans", "tag-shared"),
        hidden: _vault_input(m, "2", [], m["hidden-title"], m["hidden-tag"]),
    }
    for name, data in inputs.items():
        reply = await owner.call({"type": "create", "machine": "vault", "instance": name,
                                  "input": data})
        assert reply["type"] == "created", reply
    for client in live.values():
        for name in (shared, hidden):
            await client.call({"type": "subscribe", "machine": "vault", "instance": name})
    events = {
        shared: [{"type": "NOTE", "text": m["note"], "label": "label-note"},
                 {"type": "MEMO", "memo": m["memo"], "label": "label-memo"},
                 {"type": "CLOSE"}, {"type": "REOPEN"},
                 {"type": "NOTE", "text": m["note-b"], "label": "label-note-b"}],
        hidden: [{"type": "NOTE", "text": m["note2"], "label": m["hidden-label"]}],
    }
    for name, sequence in events.items():
        world.event_ids[name] = []
        for event in sequence:
            event_id = str(uuid.uuid4())
            ack = await owner.send_event("vault", name, event, event_id)
            assert ack["type"] == "ack", ack
            world.event_ids[name].append(event_id)
            world.last_seq[name] = ack["seq"]
    owner_http = Http(server, mint(m["owner"]))
    status, body = await owner_http.get(f"/v1/instances/vault/{shared}/events")
    assert status == 200, body
    world.owner_log = body["entries"]
    await owner_http.close()
    await owner.close()


async def _sweep(run: Callable[[str | None], Awaitable[dict[str, Any]]]) -> None:
    """Follow every cursor of one query (bounded)."""
    cursor = None
    for _ in range(MAX_PAGES):
        page = await run(cursor)
        cursor = page.get("cursor") if isinstance(page, dict) else None
        if not cursor:
            return


async def _read_everything(server: ServerProcess, world: World, who: str, subject: str,
                           live: RecordingWs) -> None:
    received = {path: world.received.setdefault((who, path), Haystack()) for path in PATHS}
    names = world.names
    token = mint(subject)

    # Live updates while the owner sent its events.
    live.record(received["ws-subscribe-live"])
    await live.quiet(0.5)
    await live.close()

    ws = await RecordingWs.open(server, token, received["ws-get"])
    for name in (*names.values(), "no-such-vault"):
        await ws.call({"type": "get", "machine": "vault", "instance": name})

    ws.record(received["ws-subscribe-since"])
    for name in names.values():
        for since in (-1, 0, 2):
            await ws.call({"type": "subscribe", "machine": "vault", "instance": name,
                           "since": since})
            await ws.quiet(0.3)
            await ws.call({"type": "unsubscribe", "machine": "vault", "instance": name})

    http = Http(server, token, received["http-get"])
    for name in names.values():
        await http.get(f"/v1/instances/vault/{name}")

    http.haystack = received["http-log"]
    for name in names.values():
        await http.get(f"/v1/instances/vault/{name}/events")
        for since in range(-1, world.last_seq[name] + 1):  # every page of one entry
            await http.get(f"/v1/instances/vault/{name}/events", since=since, limit=1)

    http.haystack = received["http-at"]
    for name in names.values():
        for seq in range(world.last_seq[name] + 2):
            await http.get(f"/v1/instances/vault/{name}/at/{seq}")

    ws.record(received["ws-query"])
    http.haystack = received["http-query"]
    for index in INDEXES:
        for op, value in SWEEPS:
            for order in ("asc", "desc"):
                await _sweep(lambda cursor: ws.query(
                    machine="vault", index=index, op=op, value=value, order=order, limit=1,
                    **({"cursor": cursor} if cursor else {})))

                async def page(cursor: str | None) -> dict[str, Any]:
                    return (await http.get(f"/v1/query/vault/{index}",
                                           **query_params(op, value, order, 1, cursor)))[1]

                await _sweep(page)

    ws.record(received["ws-errors"])
    for name in names.values():
        for event in ({"type": "NOTE", "text": "mine", "label": "x"}, {"type": "BOOM"},
                      {"type": "TRAP"}, {"type": "REOPEN"}, {"type": "NOPE"}):
            await ws.send_event("vault", name, event, str(uuid.uuid4()))
        for event_id in world.event_ids[name]:  # the owner's ids, resent
            await ws.send_event("vault", name, {"type": "NOTE", "text": "guess"}, event_id)
        for if_exists in ("error", "get"):
            await ws.call({"type": "create", "machine": "vault", "instance": name,
                           "input": {"owner": subject}, "if_exists": if_exists})
    await ws.query(machine="vault", index="title", op="gte", value="", cursor="bm9wZQ")
    await ws.query(machine="vault", index="nope", op="eq", value="x")
    await ws.quiet(0.3)
    await ws.close()

    http.haystack = received["http-errors"]
    for name in names.values():
        for event_id in world.event_ids[name]:
            await http.post(f"/v1/instances/vault/{name}/events",
                            {"event": {"type": "NOTE", "text": "guess"}, "event_id": event_id})
        await http.post(f"/v1/instances/vault/{name}/events",
                        {"event": {"type": "BOOM"}, "event_id": str(uuid.uuid4())})
        await http.post(f"/v1/instances/vault/{name}", {"input": {"owner": subject}})
        await http.post(f"/v1/instances/vault/{name}",
                        {"input": {"owner": subject}, "if_exists": "get"})
        await http.get(f"/v1/instances/vault/{name}/at/999")
        await http.get(f"/v1/instances/vault/{name}/events", since="x")
    await http.close()


async def _build(server: ServerProcess) -> World:
    labels = ("owner", "card", "account", "pin", "note", "memo", "note-b", "card2",
              "account2", "pin2", "note2", "hidden-title", "hidden-tag", "hidden-label")
    run = uuid.uuid4().hex[:8]
    world = World(markers={label: secret(label) for label in labels},
                  names={"shared": f"shared-{run}", "hidden": f"hidden-{run}"},
                  last_seq={}, event_ids={})
    subjects = {"reader": f"rita-{run}", "nobody": f"nina-{run}"}
    live: dict[str, RecordingWs] = {}
    for who, subject in subjects.items():
        live[who] = await RecordingWs.open(server, mint(subject),
                                           world.received.setdefault((who, "ws-subscribe-live"),
                                                                     Haystack()))
    await _plant(server, world, subjects["reader"], live)
    for who, subject in subjects.items():
        await _read_everything(server, world, who, subject, live[who])

    for text in world.received[("reader", "ws-subscribe-live")].texts:
        message = json.loads(text)
        if message.get("type") == "update" and message["instance"] == world.names["shared"]:
            world.reader_live_seqs.append(message["seq"])
    http = Http(server, mint(subjects["reader"]))
    status, body = await http.get(f"/v1/instances/vault/{world.names['shared']}/events")
    world.reader_log = body["entries"] if status == 200 else []
    await http.close()
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = start_secret_server(tmp_path_factory.mktemp("leaks") / "leaks.db")
    try:
        yield run_with_log(server, _build(server))
    finally:
        server.stop()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("who", CALLERS)
def test_no_secret_reaches_a_caller(world: World, who: str, path: str) -> None:
    haystack = world.received[(who, path)]
    assert haystack.texts, f"{who} received nothing on {path}: the path was not exercised"
    hits = haystack.found(world.markers.values())
    assert not hits, f"{who} got private data on {path}:\n" + "\n".join(hits[:10])


def test_the_owner_with_a_history_grant_gets_events_as_sent(world: World) -> None:
    events = [entry["event"] for entry in world.owner_log]
    assert events[0]["type"] == "xstate.init"
    assert events[0]["input"]["card"] == world.markers["card"]
    assert {"type": "NOTE", "text": world.markers["note"], "label": "label-note"} in events
    assert {"type": "MEMO", "memo": world.markers["memo"], "label": "label-memo"} in events


def test_a_reader_gets_type_seq_origin_time_and_the_public_state(world: World) -> None:
    log = world.reader_log
    assert [e["seq"] for e in log] == list(range(world.last_seq[world.names["shared"]] + 1))
    for entry in log:
        assert entry["origin"] == "client" and entry["at"] > 0 and entry["subject"] is None
        assert set(entry["context"]) == {"title", "readers", "notes", "memos"}
    assert [e["event"] for e in log] == [
        {"type": "xstate.init"},
        {"type": "NOTE", "label": "label-note"},
        {"type": "MEMO", "label": "label-memo"},
        {"type": "CLOSE"},
        {"type": "REOPEN"},
        {"type": "NOTE", "label": "label-note-b"},
    ]
    assert log[-1]["context"]["notes"] == 2 and log[-1]["value"] == "open"


def test_a_reader_got_every_live_update(world: World) -> None:
    last = world.last_seq[world.names["shared"]]
    assert world.reader_live_seqs == list(range(last + 1))
