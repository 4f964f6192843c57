"""A query page depends only on the rows its reader may read (docs/security.md, "Indexes"):
its `items` and whether it has a `cursor` are the same whatever rows it may not read lie in
the range, over WebSocket queries, the first page of a `watch` and HTTP.

alice holds 12 docs with scores 300-311 that nobody else may read (issue 22: eve's `gte 302`
answered a cursor and `gte 303` none, so thresholds told the 10th-highest hidden score).
erin holds two docs of her own, scored 250 and 1000, on either side of alice's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from leak_harness import (Caller, ServerProcess, callers, create_all, query_params,
                          run_with_log)

from statesync_server.engine.cursors import CursorSealer

HIDDEN = range(300, 312)
THRESHOLDS = range(295, 316)
TRANSPORTS = ("ws", "watch", "http")


@dataclass(frozen=True)
class Docs:
    server: ServerProcess
    eve: str
    erin: str
    erin_low: str
    erin_high: str


async def _create(server: ServerProcess, owner: str, scores: dict[str, int]) -> None:
    await create_all(server, owner, "doc", {name: {"owner": owner, "score": score}
                                            for name, score in scores.items()})


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docs]:
    from leak_harness import start_secret_server

    server = start_secret_server(tmp_path_factory.mktemp("hidden") / "hidden.db")
    run = uuid.uuid4().hex[:8]
    docs = Docs(server, f"eve-{run}", f"erin-{run}", f"low-{run}", f"high-{run}")
    try:
        run_with_log(server, _create(server, f"alice-{run}",
                                     {f"a{score}-{run}": score for score in HIDDEN}))
        run_with_log(server, _create(server, docs.erin,
                                     {docs.erin_low: 250, docs.erin_high: 1000}))
        yield docs
    finally:
        server.stop()


class Reader(Caller):
    """One subject's first pages of `doc` by `score`, over one transport."""

    async def page(self, op: str, value: int, order: str, limit: int) -> tuple[list[str], bool]:
        """The page's instance names, and whether it has a cursor."""
        fields = {"machine": "doc", "index": "score", "op": op, "value": value, "order": order,
                  "limit": limit}
        if self.http is not None:
            status, body = await self.http.get("/v1/query/doc/score",
                                               **query_params(op, value, order, limit))
            assert status == 200, body
        else:
            assert self.ws is not None
            if self.transport == "ws":
                body = await self.ws.query(**fields)
            else:
                watch_id = uuid.uuid4().hex
                body = await self.ws.request({"type": "watch", "id": watch_id, **fields})
                gone = await self.ws.request({"type": "unwatch", "id": watch_id})
                assert gone["type"] == "unwatched", gone
            assert body["type"] == "results", body
        return [item["instance"] for item in body["items"]], body["cursor"] is not None


@pytest.fixture
async def reader(docs: Docs) -> AsyncIterator[Any]:
    """`await reader(subject, transport)`: an open `Reader`."""
    async for open_ in callers(lambda subject, transport: Reader(docs.server, subject, transport)):
        yield open_


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("limit", (1, 2))
async def test_a_reader_of_nothing_learns_no_threshold(docs: Docs, reader: Any, transport: str,
                                                       limit: int) -> None:
    eve = await reader(docs.eve, transport)
    for value in THRESHOLDS:
        assert await eve.page("gte", value, "asc", limit) == ([], False), value
        assert await eve.page("lte", value, "desc", limit) == ([], False), value
        assert await eve.page("gt", value, "asc", limit) == ([], False), value


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("limit", (1, 2))
async def test_a_page_reaches_the_readers_rows_past_hidden_ones(
        docs: Docs, reader: Any, transport: str, limit: int) -> None:
    erin = await reader(docs.erin, transport)
    for value in THRESHOLDS:
        assert await erin.page("gte", value, "asc", limit) == ([docs.erin_high], False), value
        assert await erin.page("lte", value, "desc", limit) == ([docs.erin_low], False), value
    both = [docs.erin_low, docs.erin_high]
    assert await erin.page("gte", 0, "asc", 2) == (both, False)
    # a full page says there is more only when a readable row follows it
    assert await erin.page("gte", 0, "asc", 1) == ([docs.erin_low], True)
    assert await erin.page("lte", 2000, "desc", 1) == ([docs.erin_high], True)


@pytest.mark.parametrize("transport", ("ws", "http"))
async def test_the_next_page_skips_hidden_rows(docs: Docs, reader: Any, transport: str) -> None:
    erin = await reader(docs.erin, transport)
    assert erin.ws is not None or erin.http is not None
    fields = query_params("gte", 0, "asc", 1)
    if erin.http is not None:
        first = (await erin.http.get("/v1/query/doc/score", **fields))[1]
        second = (await erin.http.get("/v1/query/doc/score",
                                      **{**fields, "cursor": first["cursor"]}))[1]
    else:
        query = {"machine": "doc", "index": "score", "op": "gte", "value": 0, "limit": 1}
        first = await erin.ws.query(**query)
        second = await erin.ws.query(**query, cursor=first["cursor"])
    assert [i["instance"] for i in second["items"]] == [docs.erin_high]
    assert second["cursor"] is None


def test_every_cursor_has_the_same_length() -> None:
    """A cursor may hold the position of a row its reader may not read (a page that ended on
    its scan budget): its length must not tell that row's key or name."""
    sealer = CursorSealer.from_secret(b"k" * 32)
    positions = [("n" + "0" * 16, "a"), ("s", "b" * 200), ("s" + "x" * 999, "c"),
                 ("s" + "\u00e9" * 999, "\u65e5" * 200), ("b1", "d~e~1")]
    cursors = [sealer.seal(["sub", "doc"], position) for position in positions]
    assert len({len(cursor) for cursor in cursors}) == 1
    for position, cursor in zip(positions, cursors, strict=True):
        assert sealer.open(cursor, ["sub", "doc"]) == position
