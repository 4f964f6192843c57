"""Index queries and their cursors reveal nothing a caller may not read (docs/security.md,
"Indexes" and "Cursors").

An owner holds 30 vaults; a reader may read 5 of them, another reader the same 5, and a
third subject none. Index values (owner, account, title, tag, PIN) and the 30 instance
names are unique markers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from leak_harness import (
    Caller,
    Haystack,
    ServerProcess,
    callers,
    create_all,
    query_params,
    run_with_log,
    secret,
    start_secret_server,
)

VAULTS = 30
READABLE = 5
MAX_PAGES = 100
RANGE_SWEEPS: tuple[tuple[str, Any], ...] = (
    ("gte", ""), ("lt", "\uffff"), ("prefix", ""), ("ne", "x"))


@dataclass(frozen=True)
class Vaults:
    server: ServerProcess
    owner: str
    reader: str
    other_reader: str
    nobody: str
    names: list[str]
    values: dict[str, list[str]]  # index -> the value of each vault

    def secrets(self) -> list[str]:
        """Everything `nobody` must not learn: names and index values."""
        return [*self.names, self.owner, *(v for vs in self.values.values() for v in vs)]


def _inputs(owner: str, readers: list[str], names: list[str],
            values: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    return {name: {"owner": owner, "readers": readers if i < READABLE else [],
                   "title": values["title"][i], "tag": values["tag"][i],
                   "account": values["account"][i], "pin": values["pin"][i], "card": "n/a"}
            for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def vaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vaults]:
    server = start_secret_server(tmp_path_factory.mktemp("cursors") / "cursors.db")
    run = uuid.uuid4().hex[:8]
    values = {index: [secret(f"{index}{i:02d}") for i in range(VAULTS)]
              for index in ("title", "tag", "account", "pin")}
    vaults = Vaults(server, secret("owner"), f"rita-{run}", f"ross-{run}", f"nina-{run}",
                    [f"vault-{uuid.uuid4().hex}" for _ in range(VAULTS)], values)
    try:
        run_with_log(server, create_all(server, vaults.owner, "vault", _inputs(
            vaults.owner, [vaults.reader, vaults.other_reader], vaults.names, values)))
        yield vaults
    finally:
        server.stop()


class Querier(Caller):
    """One caller's index queries over one transport, answering `(code, body)`: code
    `results` for a page, else the error code."""

    async def query(self, index: str, op: str, value: Any, order: str = "asc", limit: int = 1,
                    cursor: str | None = None, machine: str = "vault") -> tuple[str, Any]:
        if self.ws is not None:
            fields = {"machine": machine, "index": index, "op": op, "value": value,
                      "order": order, "limit": limit}
            reply = await self.ws.query(**fields, **({"cursor": cursor} if cursor else {}))
            return (reply["type"] if reply["type"] == "results" else reply["code"]), reply
        assert self.http is not None
        status, body = await self.http.get(f"/v1/query/{machine}/{index}",
                                           **query_params(op, value, order, limit, cursor))
        if status == 200:
            return "results", body
        return body["error"]["code"], body

    async def sweep(self, index: str, op: str, value: Any,
                    order: str = "asc") -> tuple[list[dict[str, Any]], list[str]]:
        """Every page with `limit: 1`, following every cursor (bounded): items, cursors."""
        items: list[dict[str, Any]] = []
        cursors: list[str] = []
        cursor = None
        for _ in range(MAX_PAGES):
            code, page = await self.query(index, op, value, order, 1, cursor)
            if code != "results":
                break
            items += page["items"]
            cursor = page["cursor"]
            if not cursor:
                break
            cursors.append(cursor)
        return items, cursors


@pytest.fixture
async def caller(vaults: Vaults) -> AsyncIterator[Any]:
    """`await caller(subject, transport="ws")`: an open `Querier`."""
    async for open_ in callers(lambda subject, transport="ws":
                               Querier(vaults.server, subject, transport)):
        yield open_


TRANSPORTS = ("ws", "http")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("op,value", RANGE_SWEEPS)
@pytest.mark.parametrize("index", ("owner", "account", "title", "tag"))
async def test_a_caller_who_may_read_nothing_cannot_enumerate(
        vaults: Vaults, caller: Any, index: str, op: str, value: Any, transport: str) -> None:
    nobody = await caller(vaults.nobody, transport)
    for order in ("asc", "desc"):
        items, _cursors = await nobody.sweep(index, op, value, order)
        assert items == []
    hits = nobody.haystack.found(vaults.secrets())
    assert not hits, ("names or index values reached a caller who may read nothing:\n"
                      + "\n".join(hits[:5]))


@pytest.mark.parametrize("index", ("owner", "account", "title", "tag"))
async def test_cursors_are_opaque(vaults: Vaults, caller: Any, index: str) -> None:
    reader = await caller(vaults.reader)
    items, cursors = await reader.sweep(index, "gte", "")
    assert len(items) == READABLE and cursors, "the reader pages through its vaults"
    decoded = Haystack()
    for cursor in cursors:
        decoded.add('"' + cursor + '"')
    hits = decoded.found(vaults.secrets())
    assert not hits, "a cursor shows instance names or index values:\n" + "\n".join(hits[:5])


async def _reader_cursor(reader: Querier) -> str:
    code, page = await reader.query("title", "gte", "", limit=1)
    assert code == "results" and len(page["items"]) == 1 and page["cursor"], page
    return page["cursor"]


def _tampered(cursor: str, how: str) -> str:
    if how == "truncated":
        return cursor[:-4]
    if how == "extended":
        return cursor + "AAAA"
    at = {"first": 0, "middle": len(cursor) // 2, "second-last": len(cursor) - 2}[how]
    replacement = "A" if cursor[at] != "A" else "B"
    return cursor[:at] + replacement + cursor[at + 1:]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("how", ("first", "middle", "second-last", "truncated", "extended"))
async def test_a_tampered_cursor_is_refused(vaults: Vaults, caller: Any, how: str,
                                            transport: str) -> None:
    reader = await caller(vaults.reader, transport)
    cursor = await _reader_cursor(reader)
    code, reply = await reader.query("title", "gte", "", cursor=_tampered(cursor, how))
    assert code == "invalid-message", reply


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("who", ("other_reader", "nobody"))
async def test_a_cursor_is_bound_to_its_caller(vaults: Vaults, caller: Any, who: str,
                                               transport: str) -> None:
    cursor = await _reader_cursor(await caller(vaults.reader, transport))
    other = await caller(getattr(vaults, who), transport)
    code, reply = await other.query("title", "gte", "", cursor=cursor)
    assert code == "invalid-message", reply


QUERY_CHANGES: dict[str, dict[str, Any]] = {
    "value": {"value": "A"},
    "op": {"op": "gt"},
    "order": {"order": "desc"},
    "index": {"index": "tag"},
    "machine": {"machine": "order", "index": "status"},
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("change", QUERY_CHANGES)
async def test_a_cursor_is_bound_to_its_query(vaults: Vaults, caller: Any, change: str,
                                              transport: str) -> None:
    reader = await caller(vaults.reader, transport)
    cursor = await _reader_cursor(reader)
    query = {"index": "title", "op": "gte", "value": "", "order": "asc", "machine": "vault",
             **QUERY_CHANGES[change]}
    code, reply = await reader.query(**query, cursor=cursor)
    assert code == "invalid-message", reply


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_same_query_continues_with_its_cursor_at_any_limit(
        vaults: Vaults, caller: Any, transport: str) -> None:
    reader = await caller(vaults.reader, transport)
    first_page = (await reader.query("title", "gte", "", limit=1))[1]
    code, page = await reader.query("title", "gte", "", limit=10, cursor=first_page["cursor"])
    assert code == "results", page
    seen = [i["instance"] for i in first_page["items"] + page["items"]]
    assert sorted(seen) == sorted(vaults.names[:READABLE])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("op", ("ne", "lt", "lte", "gt", "gte", "prefix"))
async def test_a_private_index_answers_only_eq(vaults: Vaults, caller: Any, op: str,
                                               transport: str) -> None:
    owner = await caller(vaults.owner, transport)
    code, reply = await owner.query("pin", op, "SECRET", limit=10)
    assert code == "invalid-message", reply


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_private_index_never_shows_its_key(vaults: Vaults, caller: Any,
                                                   transport: str) -> None:
    owner = await caller(vaults.owner, transport)
    code, page = await owner.query("pin", "eq", vaults.values["pin"][3], limit=10)
    assert code == "results", page
    assert [i["instance"] for i in page["items"]] == [vaults.names[3]]
    assert page["items"][0].get("key") is None, page["items"][0]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("index,shown", [
    ("owner", False),    # default, the owner is not in the public context
    ("account", False),  # default, not in the public context
    ("title", True),     # default, and the public context shows the same value
    ("tag", True),       # public=True, though not in the public context
])
async def test_an_item_carries_its_key_only_when_the_reader_may_see_it(
        vaults: Vaults, caller: Any, index: str, shown: bool, transport: str) -> None:
    reader = await caller(vaults.reader, transport)
    code, page = await reader.query(index, "gte", "", limit=50)
    assert code == "results", page
    assert len(page["items"]) == READABLE
    for item in page["items"]:
        position = vaults.names.index(item["instance"])
        if shown:
            assert item["key"] == vaults.values[index][position]
        else:
            assert item.get("key") is None, item
    if not shown:
        hits = reader.haystack.found([vaults.owner, *vaults.values["account"]])
        assert not hits, "\n".join(hits[:5])
