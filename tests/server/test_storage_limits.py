"""What the database cannot store is refused before it sees it, alike on every backend, with a
structured error and nothing changed (never `internal`): NUL characters, indexed strings over
the key column, over-long names, ids and subjects, seqs beyond the 32-bit columns. Index
strings order by code point, on PostgreSQL's non-C (ICU en-US) test database too."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_harness import ServerProcess, WsClient, mint

from statesync_server.limits import MAX_INDEXED_STRING, MAX_SEQ
from statesync_server.testing.postgres import Databases

APP = str(Path(__file__).parent / "apps" / "limitsapp.py")
_numbers = itertools.count()


@pytest.fixture(scope="module")
def server(session_databases: Databases) -> Iterator[ServerProcess]:
    process = ServerProcess(session_databases.new("limits"), app=APP).start()
    yield process
    process.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {mint('alice')}"},
                      timeout=10) as client:
        yield client


def _note(http: httpx.Client, **context: object) -> str:
    name = f"n{next(_numbers)}"
    created = http.post(f"/v1/instances/note/{name}", json={"input": {"owner": "alice", **context}})
    assert created.status_code == 201, created.text
    return name


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return error["message"]


def _send(http: httpx.Client, name: str, event_id: str, **event: object) -> httpx.Response:
    return http.post(f"/v1/instances/note/{name}/events",
                     json={"event": {"type": "SET", **event}, "event_id": event_id})


@pytest.mark.parametrize("title, why", [
    ("a\x00b", "NUL"),
    ("x" * (MAX_INDEXED_STRING + 1), "limited to"),
    ("日" * 700, "limited to"),  # 999 characters or fewer, but 2,100 UTF-8 bytes
])
def test_an_indexed_string_the_database_cannot_store_is_refused(http: httpx.Client, title: str,
                                                                 why: str) -> None:
    name = _note(http, title="before")
    message = _error(_send(http, name, "e1", title=title), 422, "invalid-event")
    assert why in message and "'title'" in message
    message = _error(_send(http, name, "e2", tags=["fine", title]), 422, "invalid-event")
    assert "'tags'" in message
    state = http.get(f"/v1/instances/note/{name}").json()
    assert (state["seq"], state["context"]["title"], state["context"]["tags"]) == (0, "before", [])
    _error(http.post(f"/v1/instances/note/{name}-new", json={"input": {"title": title}}),
           422, "invalid-event")
    assert http.get(f"/v1/instances/note/{name}-new").status_code == 404
    # the same event id is still free: nothing was applied
    assert _send(http, name, "e1", title="after").json()["seq"] == 1


def test_the_longest_storable_indexed_string_is_stored_and_found(http: httpx.Client) -> None:
    title = "é" * MAX_INDEXED_STRING  # 999 characters, 1,998 UTF-8 bytes
    name = _note(http, title=title)
    found = http.get("/v1/query/note/title", params={"value": title}).json()
    assert [item["instance"] for item in found["items"]] == [name]


def test_nul_and_over_long_identifiers_are_refused(http: httpx.Client) -> None:
    name = _note(http)
    _error(_send(http, name, "a\x00b", title="x"), 400, "invalid-message")
    _error(_send(http, name, "e" * 129, title="x"), 400, "invalid-message")
    _error(http.get("/v1/instances/note/a%00b"), 400, "invalid-message")
    _error(http.post("/v1/instances/note/" + "n" * 201, json={"input": {}}), 400, "invalid-message")
    _error(http.get("/v1/query/note/title", params={"value": "a\x00"}), 400, "invalid-message")
    assert http.get(f"/v1/instances/note/{name}").json()["seq"] == 0


def test_a_message_to_a_name_the_database_cannot_store_is_refused(http: httpx.Client) -> None:
    """The sending transition is refused (its message would be stored with it); a sender
    whose `machine/instance` is longer than a token's `sub` may be is still logged."""
    name, long_name = _note(http), _note_named(http, "L" * 200)
    for to in ("x" * 201, "a\x00b"):
        _error(http.post(f"/v1/instances/note/{name}/events",
                         json={"event": {"type": "TELL", "to": to}, "event_id": f"t{len(to)}"}),
               422, "invalid-event")
    assert http.get(f"/v1/instances/note/{name}").json()["seq"] == 0
    sent = http.post(f"/v1/instances/note/{long_name}/events",
                     json={"event": {"type": "TELL", "to": name}, "event_id": "tell"})
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 10
    while http.get(f"/v1/instances/note/{name}").json()["context"]["title"] != "heard":
        assert time.monotonic() < deadline, "the message was not delivered"
        time.sleep(0.02)


def _note_named(http: httpx.Client, name: str) -> str:
    created = http.post(f"/v1/instances/note/{name}", json={"input": {"owner": "alice"}})
    assert created.status_code == 201, created.text
    return name


@pytest.mark.parametrize("sub", ["s" * 201, "a\x00b"])
def test_a_token_subject_the_database_cannot_store_is_unauthenticated(server: ServerProcess,
                                                                      sub: str) -> None:
    response = httpx.post(f"{server.url}/v1/instances/note/sub-{len(sub)}",
                          headers={"authorization": f"Bearer {mint(sub)}"}, json={"input": {}})
    _error(response, 401, "unauthenticated")


def test_seqs_beyond_the_columns_are_refused(http: httpx.Client) -> None:
    name = _note(http)
    log = http.get(f"/v1/instances/note/{name}/events", params={"since": MAX_SEQ})
    assert log.status_code == 200 and log.json()["entries"] == []
    _error(http.get(f"/v1/instances/note/{name}/events", params={"since": MAX_SEQ + 1}),
           400, "invalid-message")
    _error(http.get(f"/v1/instances/note/{name}/at/{MAX_SEQ + 1}"), 400, "invalid-message")


async def test_over_the_websocket_the_same_inputs_get_structured_errors(
        server: ServerProcess, http: httpx.Client) -> None:
    name = _note(http)
    client = await WsClient.connect(server, mint("alice"))
    try:
        reply = await client.send_event("note", name, {"type": "SET", "title": "\x00"}, "w1")
        assert (reply["type"], reply["code"]) == ("reject", "invalid-event"), reply
        reply = await client.send_event("note", name, {"type": "SET", "title": "ok"}, "w\x00")
        assert reply["type"] == "reject" and reply["code"] == "invalid-message", reply
        for message in ({"type": "subscribe", "machine": "note", "instance": name,
                         "since": MAX_SEQ + 1},
                        {"type": "query", "machine": "note", "index": "title", "value": "\x00"}):
            reply = await client.request({**message, "id": json.dumps(message)[:100]})
            assert reply["type"] == "error" and reply["code"] == "invalid-message", reply
    finally:
        await client.close()
    assert http.get(f"/v1/instances/note/{name}").json()["seq"] == 0


def test_index_strings_order_by_code_point(http: httpx.Client) -> None:
    """`B` < `Z` < `_` < `a` < `b` < `é` by code point; an en-US collation would give
    `_ a b B é Z`."""
    titles = ["b", "é", "Z", "_", "a", "B"]
    tag = f"order-{next(_numbers)}"
    names = {_note(http, title=title): title for title in titles}
    for name in names:
        assert _send(http, name, "tag", tags=[tag]).status_code == 200
    found = http.get("/v1/query/note/title", params={"op": "gte", "value": "", "limit": 1000})
    mine = [names[i["instance"]] for i in found.json()["items"] if i["instance"] in names]
    assert mine == sorted(titles) == ["B", "Z", "_", "a", "b", "é"]
    found = http.get("/v1/query/note/title", params={"op": "lt", "value": "a", "limit": 1000})
    assert {names[i["instance"]] for i in found.json()["items"] if i["instance"] in names} == {
        "B", "Z", "_"}
