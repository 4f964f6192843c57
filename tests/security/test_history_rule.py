"""One rule for the past: a reader sees the state at seq N only if it may read the instance
now AND could read it as it was at seq N (docs/security.md). The same rule for `at/{seq}`,
the event log and `subscribe` with `since`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from leak_harness import Http, RecordingWs, ServerProcess, mint, run_with_log, start_secret_server

READER = f"rita-{uuid.uuid4().hex[:8]}"
NOBODY = f"nina-{uuid.uuid4().hex[:8]}"


def _note(n: int) -> dict[str, str]:
    return {"type": "NOTE", "text": f"note {n}", "label": ""}


ADD = {"type": "ADD_READER", "reader": READER}
REMOVE = {"type": "REMOVE_READER", "reader": READER}

# name -> (readers at creation, events from seq 1 on, the seqs the reader may see)
STORIES: dict[str, tuple[list[str], list[dict[str, str]], list[int]]] = {
    "added-at-2": ([], [_note(1), ADD, _note(3)], [2, 3]),
    "removed-at-2-back-at-4": ([READER], [_note(1), REMOVE, _note(3), ADD, _note(5)],
                               [0, 1, 4, 5]),
}


@dataclass(frozen=True)
class Past:
    server: ServerProcess
    owner: str
    names: dict[str, str]  # story -> instance


async def _tell(server: ServerProcess, owner: str, names: dict[str, str]) -> None:
    ws = await RecordingWs.open(server, mint(owner))
    for story, (readers, events, _visible) in STORIES.items():
        reply = await ws.call({"type": "create", "machine": "vault", "instance": names[story],
                               "input": {"owner": owner, "readers": readers, "title": story}})
        assert reply["type"] == "created", reply
        for event in events:
            ack = await ws.send_event("vault", names[story], event, str(uuid.uuid4()))
            assert ack["type"] == "ack", ack
    await ws.close()


@pytest.fixture(scope="module")
def past(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Past]:
    server = start_secret_server(tmp_path_factory.mktemp("history") / "history.db")
    owner = f"olga-{uuid.uuid4().hex[:8]}"
    names = {story: f"{story}-{uuid.uuid4().hex[:8]}" for story in STORIES}
    try:
        run_with_log(server, _tell(server, owner, names))
        yield Past(server, owner, names)
    finally:
        server.stop()


@pytest.fixture
async def http(past: Past) -> AsyncIterator[dict[str, Http]]:
    clients = {who: Http(past.server, mint(sub))
               for who, sub in (("reader", READER), ("owner", past.owner), ("nobody", NOBODY))}
    yield clients
    for client in clients.values():
        await client.close()


def _last_seq(story: str) -> int:
    return len(STORIES[story][1])


@pytest.mark.parametrize("story", STORIES)
async def test_at_seq_is_refused_where_the_reader_could_not_read(
        past: Past, http: dict[str, Http], story: str) -> None:
    visible = STORIES[story][2]
    answers = {}
    for seq in range(_last_seq(story) + 1):
        status, body = await http["reader"].get(f"/v1/instances/vault/{past.names[story]}/at/{seq}")
        answers[seq] = status if status != 200 else (200, body["seq"])
    assert answers == {seq: (200, seq) if seq in visible else 403
                       for seq in range(_last_seq(story) + 1)}


@pytest.mark.parametrize("story", STORIES)
async def test_the_event_log_leaves_out_what_the_reader_could_not_read(
        past: Past, http: dict[str, Http], story: str) -> None:
    path = f"/v1/instances/vault/{past.names[story]}/events"
    status, body = await http["reader"].get(path)
    assert status == 200, body
    assert [e["seq"] for e in body["entries"]] == STORIES[story][2]
    status, body = await http["owner"].get(path)
    assert [e["seq"] for e in body["entries"]] == list(range(_last_seq(story) + 1))


@pytest.mark.parametrize("since", [-1, 0, 1, 3, 5])
@pytest.mark.parametrize("story", STORIES)
async def test_subscribe_since_replays_only_what_the_reader_could_read(
        past: Past, story: str, since: int) -> None:
    ws = await RecordingWs.open(past.server, mint(READER))
    try:
        reply = await ws.call({"type": "subscribe", "machine": "vault",
                               "instance": past.names[story], "since": since})
        assert reply["type"] == "subscribed", reply
        last, seqs = _last_seq(story), []
        for _ in range(last + 2 if since < last else 0):  # until the replay reaches the end
            seqs.append((await ws.expect(lambda m: m["type"] == "update"))["seq"])
            if seqs[-1] >= last:
                break
        seqs += [m["seq"] for m in await ws.quiet(0.3) if m["type"] == "update"]
        assert seqs == [s for s in STORIES[story][2] if s > since]
    finally:
        await ws.close()


@pytest.mark.parametrize("story", STORIES)
async def test_a_caller_who_may_not_read_now_gets_no_past(
        past: Past, http: dict[str, Http], story: str) -> None:
    name = past.names[story]
    for seq in range(_last_seq(story) + 1):
        status, _ = await http["nobody"].get(f"/v1/instances/vault/{name}/at/{seq}")
        assert status == 403
    status, _ = await http["nobody"].get(f"/v1/instances/vault/{name}/events")
    assert status == 403
