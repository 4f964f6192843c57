"""examples/orders end to end: `statesync serve examples/orders/app.py` on a real SQLite file,
driven over HTTP and WebSocket by a customer, restaurants and couriers holding tokens with a
`role` claim."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from examples_harness import Caller, example, serve, statesync_cli

from statesync import Client
from statesync_server.testing import ServerProcess

APP = example("orders")
LIVE = 60_000  # ms: the page's Pyodide cold start on a busy machine
PAYMENT_MARKER = "Holder-7f3a9c"  # planted in the payment details; a courier must never see it


def order_input(restaurant: str = "luigi") -> dict[str, Any]:
    return {
        "restaurant": restaurant,
        "items": [{"name": "Margherita", "qty": 2, "price_cents": 900}],
        "address": "1 Main St",
        "payment": {"card_last4": "4242", "holder": f"Ada {PAYMENT_MARKER}"},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The example as shipped (version 2 current), on virtual time: its timers fire only
    when a test advances the clock."""
    process = serve(APP, tmp_path_factory.mktemp("orders") / "orders.db")
    yield process
    process.stop()


@pytest.fixture
def people(server: ServerProcess, callers) -> dict[str, Caller]:
    return {
        "ada": callers(server, "ada", role="customer"),
        "eve": callers(server, "eve", role="customer"),
        "luigi": callers(server, "luigi", role="restaurant"),
        "sakura": callers(server, "sakura", role="restaurant"),
        "bob": callers(server, "bob", role="courier"),
        "carol": callers(server, "carol", role="courier"),
        "nobody": callers(server, "mallory"),  # no role
    }


def submit(people: dict[str, Caller], name: str, **input: Any) -> dict[str, Any]:
    created = people["ada"].create("order", name, {**order_input(), **input})
    assert created.status_code == 201, created.text
    return created.json()


def code(response) -> str:
    return response.json()["error"]["code"]


def test_an_order_goes_from_the_customer_to_the_restaurant_to_a_courier(server, people) -> None:
    ada, luigi, bob, carol = people["ada"], people["luigi"], people["bob"], people["carol"]
    created = submit(people, "o-flow")
    assert created["value"] == "offered" and created["context"]["total_cents"] == 1800
    assert created["context"]["customer"] == "ada"  # whoever submitted it

    assert luigi.send("order", "o-flow", {"type": "ACCEPT", "prep_seconds": 600}).status_code == 200
    assert ada.state("order", "o-flow")["value"] == "preparing"
    # when the food is ready (a durable timer, on the server's virtual clock) the order is
    # offered to couriers; not a second earlier
    server.advance_blocking(seconds=599)
    assert ada.state("order", "o-flow")["value"] == "preparing"
    assert code(bob.send("order", "o-flow", {"type": "ACCEPT_JOB"})) == "forbidden"
    server.advance_blocking(seconds=1)
    assert bob.state("order", "o-flow")["value"] == "awaiting_courier"
    jobs = bob.query("order", "status", "eq", "awaiting_courier").json()["items"]
    assert "o-flow" in [item["instance"] for item in jobs]

    taken = bob.send("order", "o-flow", {"type": "ACCEPT_JOB"})
    assert taken.status_code == 200, taken.text
    # another courier comes too late: the job is no longer theirs to see or take
    late = carol.send("order", "o-flow", {"type": "ACCEPT_JOB"})
    assert late.status_code == 403 and code(late) == "forbidden"
    assert code(carol.get("order", "o-flow")) == "forbidden"
    # nor can bob take it twice
    again = bob.send("order", "o-flow", {"type": "ACCEPT_JOB"})
    assert code(again) == "event-not-accepted"
    assert code(carol.send("order", "o-flow", {"type": "PICKED_UP"})) == "forbidden"

    assert bob.send("order", "o-flow", {"type": "PICKED_UP"}).status_code == 200
    assert bob.send("order", "o-flow", {"type": "DELIVERED"}).status_code == 200
    final = ada.state("order", "o-flow")
    assert final["value"] == "delivered" and final["done"]
    assert final["context"]["courier"] == "bob"

    log = ada.log("order", "o-flow")
    assert log[2]["at"] - log[1]["at"] == pytest.approx(600, abs=1e-3)  # exactly on time
    story = [(e["origin"], e["event"]["type"], e["value"]) for e in log]
    assert story == [
        ("client", "xstate.init", "offered"),
        ("client", "ACCEPT", "preparing"),
        ("timer", "xstate.after.courierDelay.order.preparing", "awaiting_courier"),
        ("client", "ACCEPT_JOB", "assigned"),
        ("client", "PICKED_UP", "en_route"),
        ("client", "DELIVERED", "delivered"),
    ]


def test_a_courier_cannot_accept_before_the_courier_is_requested(people) -> None:
    submit(people, "o-early")
    people["luigi"].send("order", "o-early", {"type": "ACCEPT", "prep_seconds": 3600})
    for courier in ("bob", "carol"):
        early = people[courier].send("order", "o-early", {"type": "ACCEPT_JOB"})
        assert early.status_code == 403 and code(early) == "forbidden"
    state = people["ada"].state("order", "o-early")
    assert (state["value"], state["seq"], state["context"]["courier"]) == ("preparing", 1, None)


def test_each_role_sends_only_its_own_events(people) -> None:
    ada, eve, luigi, sakura, bob = (people[n] for n in ("ada", "eve", "luigi", "sakura", "bob"))
    submit(people, "o-roles")
    refused = [
        eve.send("order", "o-roles", {"type": "CANCEL"}),                 # not her order
        bob.send("order", "o-roles", {"type": "ACCEPT", "prep_seconds": 1}),  # not a restaurant
        sakura.send("order", "o-roles", {"type": "ACCEPT", "prep_seconds": 1}),  # not hers
        ada.send("order", "o-roles", {"type": "ACCEPT", "prep_seconds": 1}),  # a customer
        luigi.send("order", "o-roles", {"type": "CANCEL"}),               # the customer's
        people["nobody"].send("order", "o-roles", {"type": "CANCEL"}),    # no role at all
    ]
    assert [code(r) for r in refused] == ["forbidden"] * len(refused)
    # creating: only a customer, with a valid order, and the order is theirs
    assert code(luigi.create("order", "o-by-luigi", order_input())) == "forbidden"
    assert code(bob.create("order", "o-by-bob", order_input())) == "forbidden"
    smuggled = eve.create("order", "o-for-ada", {**order_input(), "customer": "ada"})
    assert smuggled.status_code == 422 and "customer" in smuggled.json()["error"]["message"]
    bad = ada.create("order", "o-bad", {**order_input(), "items": []})
    assert bad.status_code == 422 and "items" in bad.json()["error"]["message"]
    unknown = ada.create("order", "o-nowhere", order_input(restaurant="nowhere"))
    assert code(unknown) == "invalid-event"
    for junk in (None, [], "x", {"items": [1, {"qty": "3", "price_cents": 9}]}, {"items": "x"}):
        refused = ada.create("order", "o-junk", junk)
        assert refused.status_code == 422, (junk, refused.text)
    assert ada.get("order", "o-junk").status_code == 404
    assert ada.state("order", "o-roles")["seq"] == 0  # nothing of the above changed it

    assert luigi.send("order", "o-roles", {"type": "REJECT", "reason": "closed"}).status_code == 200
    rejected = ada.state("order", "o-roles")
    assert rejected["value"] == "rejected" and rejected["context"]["reason"] == "closed"
    assert ada.send("order", "o-roles", {"type": "CANCEL"}).json()["error"]["code"] == \
        "event-not-accepted"


def test_a_courier_never_sees_payment_details_on_any_read_path(server, people) -> None:
    ada, luigi, bob = people["ada"], people["luigi"], people["bob"]
    submit(people, "o-private")
    luigi.send("order", "o-private", {"type": "ACCEPT", "prep_seconds": 60})
    server.advance_blocking(seconds=60)
    assert bob.send("order", "o-private",
                    {"type": "ACCEPT_JOB"}).status_code == 200

    seen: list[str] = []
    state = bob.get("order", "o-private")
    seen.append(state.text)
    assert state.json()["context"]["address"] == "1 Main St"  # what a courier needs, it gets
    seen.append(bob.http.get("/v1/instances/order/o-private/events",
                             params={"since": -1}).text)
    for seq in range(state.json()["seq"] + 1):
        seen.append(bob.http.get(f"/v1/instances/order/o-private/at/{seq}").text)
    for index, value in (("status", "assigned"), ("customer", "ada"), ("open_at", "luigi")):
        seen.append(bob.query("order", index, "eq", value).text)
    seen.extend(asyncio.run(_courier_socket(server, bob.token)))
    everything = "\n".join(seen)
    assert "o-private" in everything  # the paths did show the order...
    for secret in (PAYMENT_MARKER, "card_last4", "payment"):
        assert secret not in everything, secret  # ...and never its payment details

    # the customer does see them (the projection is per reader, not a blanket removal)
    assert ada.state("order", "o-private")["context"]["payment"]["holder"].endswith(PAYMENT_MARKER)
    assert PAYMENT_MARKER not in luigi.get("order", "o-private").text


async def _courier_socket(server: ServerProcess, token: str) -> list[str]:
    """Every frame a courier receives over WebSocket: get, subscribe with the whole history,
    a query, and a live query that sees the order change."""
    frames: list[str] = []
    async with websockets.connect(server.ws_url) as ws:
        async def ask(message: dict[str, Any]) -> None:
            await ws.send(json.dumps(message))
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 10))
                reply = json.loads(frames[-1])
                if reply.get("id") == message["id"] or (
                        reply.get("event_id") == message["id"] and reply["type"] == "ack"):
                    return

        await ask({"type": "auth", "token": token, "id": "a"})
        await ask({"type": "get", "id": "g", "machine": "order", "instance": "o-private"})
        await ask({"type": "watch", "id": "w", "machine": "order", "index": "status",
                   "op": "eq", "value": "assigned"})
        await ask({"type": "subscribe", "id": "s", "machine": "order", "instance": "o-private",
                   "since": -1})
        await ask({"type": "query", "id": "q", "machine": "order", "index": "customer",
                   "op": "eq", "value": "ada"})
        await ask({"type": "send", "id": "pick-1", "machine": "order", "instance": "o-private",
                   "event": {"type": "PICKED_UP"}, "event_id": "pick-1"})
        # the subscription hears of the pick-up, and the live query sees the order leave
        def heard() -> set[str]:
            kinds = [(m["type"], m.get("value"), m.get("change")) for m in map(json.loads, frames)]
            return {k for k, value, change in kinds if (k, value) == ("update", "en_route")
                    or (k, change) == ("query-change", "leave")}

        while heard() != {"update", "query-change"}:
            try:
                frames.append(await asyncio.wait_for(ws.recv(), 10))
            except TimeoutError:
                raise AssertionError(f"not heard: {frames}") from None
    return frames


async def test_a_restaurants_open_orders_are_a_live_query(server) -> None:
    customer, restaurant = server.mint("eve", role="customer"), server.mint("sakura", role="restaurant")
    async with Client(server.url, token=customer) as eve, Client(server.url, token=restaurant) as sakura:
        board = await sakura.watch("order", "open_at", "eq", "sakura")
        assert board.names == []
        await eve.instance("order", "live-1", create=order_input("sakura"))
        await eve.instance("order", "live-2", create=order_input("sakura"))
        await eve.instance("order", "live-elsewhere", create=order_input("luigi"))
        await board.wait_for(lambda q: {"live-1", "live-2"} <= set(q.names), timeout=10)
        first = await sakura.instance("order", "live-1")
        await first.send({"type": "REJECT", "reason": "out of rice"})
        await board.wait_for(lambda q: "live-1" not in q.names, timeout=10)
        assert "live-2" in board.names and "live-elsewhere" not in board.names
        assert board.get("live-2").state.context["status"] == "offered"
        await board.close()


def test_an_unanswered_order_is_offered_again_then_given_up(tmp_path: Path, callers) -> None:
    server = serve(APP, tmp_path / "reoffer.db")
    try:
        ada = callers(server, "ada", role="customer")
        created = ada.create("order", "o-waiting", order_input())
        assert created.status_code == 201, created.text
        server.advance_blocking(seconds=59)
        assert ada.state("order", "o-waiting")["context"]["offers"] == 1
        server.advance_blocking(minutes=3)
        final = ada.state("order", "o-waiting")
        assert final["value"] == "unanswered" and final["context"]["offers"] == 3
        timer = "xstate.after.reofferDelay.order.offered"
        log = ada.log("order", "o-waiting")
        story = [(e["origin"], e["event"]["type"], e["value"], e["context"]["offers"]) for e in log]
        assert story == [("client", "xstate.init", "offered", 1),
                         ("timer", timer, "offered", 2),
                         ("timer", timer, "offered", 3),
                         ("timer", timer, "unanswered", 3)]
        # a minute per offer, to the millisecond
        assert [round(b["at"] - a["at"], 3) for a, b in itertools.pairwise(log)] == [60.0] * 3
    finally:
        server.stop()


def test_version_2_dispatches_a_courier_first_and_upgrades_running_orders(tmp_path: Path,
                                                                          callers) -> None:
    db = tmp_path / "upgrade.db"
    before = serve(APP, db, ORDERS_LATEST_VERSION="1")
    try:
        ada = callers(before, "ada", role="customer")
        luigi = callers(before, "luigi", role="restaurant")
        for name in ("v1-offered", "v1-preparing"):
            assert ada.create("order", name, order_input()).status_code == 201
        luigi.send("order", "v1-preparing", {"type": "ACCEPT", "prep_seconds": 3600})
        # version 1 offers even a restaurant without a partnership the order
        deli = ada.create("order", "v1-deli", order_input(restaurant="corner-deli")).json()
        assert deli["value"] == "offered"
    finally:
        before.stop()

    after = serve(APP, db)
    try:
        upgraded = statesync_cli("upgrade", str(APP), "--machine", "order", "--from", "1",
                                 "--url", after.url)
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        assert upgraded.stdout.startswith("3 upgraded"), upgraded.stdout

        ada = callers(after, "ada", role="customer")
        luigi = callers(after, "luigi", role="restaurant")
        bob = callers(after, "bob", role="courier")
        # running orders keep their state; the log says they were upgraded
        assert ada.state("order", "v1-offered")["value"] == "offered"
        assert ada.state("order", "v1-preparing")["value"] == "preparing"
        upgrade = ada.log("order", "v1-offered")[-1]
        assert (upgrade["origin"], upgrade["event"]["type"]) == ("upgrade", "statesync.upgrade")
        at = ada.http.get(f"/v1/instances/order/v1-offered/at/{upgrade['seq']}").json()
        assert at["version"] == "2"
        # and go on under version 2's machine
        assert luigi.send("order", "v1-offered", {"type": "ACCEPT", "prep_seconds": 300}).status_code == 200
        after.advance_blocking(seconds=300)
        assert bob.state("order", "v1-offered")["value"] == "awaiting_courier"
        # the timer started under version 1, before the restart, fires under version 2
        assert ada.state("order", "v1-preparing")["value"] == "preparing"
        after.advance_blocking(hours=1)
        assert bob.state("order", "v1-preparing")["value"] == "awaiting_courier"

        # a new order at a restaurant without a partnership goes to a courier first
        new = ada.create("order", "v2-deli", order_input(restaurant="corner-deli"))
        assert new.status_code == 201 and new.json()["value"] == "awaiting_courier"
        assert bob.send("order", "v2-deli", {"type": "ACCEPT_JOB"}).status_code == 200
        assert bob.send("order", "v2-deli", {"type": "PICKED_UP"}).status_code == 200
        # a partner restaurant still gets the offer
        assert ada.create("order", "v2-luigi", order_input()).json()["value"] == "offered"
    finally:
        after.stop()


def test_the_restaurant_page_shows_open_orders_live_and_answers_them(page, server, people) -> None:
    from playwright.sync_api import expect

    luigi = people["luigi"]
    page.goto(f"{server.url}/#token={luigi.token}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=LIVE)
    expect(page.locator("#title")).to_have_text("luigi: open orders")
    expect(page.locator("#status")).to_have_attribute("data-status", "live", timeout=LIVE)

    submit(people, "o-page-1")
    submit(people, "o-page-2")
    submit(people, "o-page-sakura", restaurant="sakura")  # another restaurant's: never shown
    first, second = page.locator('[data-order="o-page-1"]'), page.locator('[data-order="o-page-2"]')
    expect(first).to_contain_text("2× Margherita", timeout=LIVE)  # the worker's watch may
    # still be taking over from the page's first HTTP read
    expect(second).to_contain_text("offered")

    first.get_by_label("preparation seconds for o-page-1").fill("3600")
    first.get_by_role("button", name="Accept").click()
    expect(first.locator(".status")).to_have_text("preparing")
    second.get_by_role("button", name="Reject").click()
    expect(second).to_have_count(0)  # rejected: no longer open
    expect(page.locator('[data-order="o-page-sakura"]')).to_have_count(0)
    assert PAYMENT_MARKER not in page.content()

    assert people["ada"].state("order", "o-page-1")["value"] == "preparing"
    assert people["ada"].state("order", "o-page-2")["value"] == "rejected"
    assert luigi.state("order", "o-page-1")["context"]["prep_seconds"] == 3600
