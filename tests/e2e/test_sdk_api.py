"""The JavaScript API of sdk_web/statesync.js, driven from a page of the example server."""

from __future__ import annotations

import time

import jwt
from e2e_harness import token
from playwright.sync_api import Page


def test_instance_state_send_and_subscribe_with_a_token(blank: Page) -> None:
    result = blank.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        const todo = await client.instance("todo", "alice", { create: {} });
        await client.ready;  // the Python client took over: sends are optimistic
        const seen = [];
        todo.subscribe(() => { throw new Error("a broken listener"); });
        const off = todo.subscribe((state) => seen.push(state.context.items.map((i) => i.text)));
        const before = todo.state;
        const saved = todo.send({ type: "ADD", text: "milk" });
        const counted = todo.state;  // at once; the machine applies it in the worker
        let optimistic;
        await new Promise((resolve) => todo.subscribe((state) => {
            if (state.context.items.length && !optimistic) resolve(optimistic = state);
        }));
        const unsavedThen = client.status.unsaved;  // the optimistic state comes before the ack
        const seq = await saved;
        const shown = todo.state;  // read your writes: the send resolved once this showed it
        off();
        const cleared = await todo.send("CLEAR_DONE");
        const result = { before, counted, optimistic, unsavedThen, seq, shown, cleared,
                         clearedShown: todo.state, seen, status: client.status,
                         matches: todo.matches("active"), tag: todo.hasTag("x"),
                         same: (await client.instance("todo", "alice")) === todo };
        await client.close();
        return result;
    }""", token("alice"))
    assert result["before"] == {"value": "active", "tags": [], "status": "active", "done": False,
                                "context": {"items": [], "next_id": 1}, "seq": 0, "pending": 0}
    assert result["counted"] == {**result["before"], "pending": 1}
    assert result["optimistic"]["context"]["items"] == [{"id": 1, "text": "milk", "done": False}]
    assert result["optimistic"]["pending"] == 1 and result["unsavedThen"] == 1
    assert result["seq"] == 1
    assert result["shown"] == {**result["optimistic"], "seq": 1, "pending": 0}
    assert result["cleared"] == 2
    assert result["clearedShown"]["seq"] == 2 and result["clearedShown"]["pending"] == 0
    # Called at once, on the count, then on the optimistic change (one message from the worker).
    assert result["seen"][:3] == [[], [], ["milk"]]
    assert result["status"] == {"status": "live", "unsaved": 0, "subject": "alice", "phase": "live"}
    assert result["matches"] is True and result["tag"] is False
    assert result["same"] is True


def test_get_token_is_asked_for_a_token(blank: Page) -> None:
    subject = blank.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        let asked = 0;
        const client = await connect({ getToken: async () => { asked++; return token; } });
        const subject = client.status.subject;
        await client.ready;  // the Python client's first connection reuses that token
        const live = client.status;
        await client.close();
        return { subject, asked, live };
    }""", token("bob"))
    assert subject == {"subject": "bob", "asked": 1,
                       "live": {"status": "live", "unsaved": 0, "subject": "bob", "phase": "live"}}


def test_errors_carry_the_servers_code(blank: Page) -> None:
    result = blank.evaluate("""async (token) => {
        const { connect, StatesyncError } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        const codes = {};
        const code = async (promise) => {
            try { await promise; return "resolved"; }
            catch (error) { return error instanceof StatesyncError ? error.code : String(error); }
        };
        codes.forbidden = await code(client.instance("todo", "someone-else", { create: {} }));
        codes.missing = await code(client.instance("no-such-machine", "x"));
        const todo = await client.instance("todo", "carol", { create: {} });
        codes.schema = await code(todo.send({ type: "ADD", text: "" }));
        codes.unknown = await code(todo.send({ type: "NOPE" }));
        codes.state = todo.state.context.items;
        const invalid = await todo.send({ type: "ADD", text: "" }).catch((error) => error);
        codes.invalid = { message: invalid.message, fields: invalid.fields };
        await client.close();
        return codes;
    }""", token("carol"))
    invalid = result.pop("invalid")
    assert result == {"forbidden": "forbidden", "missing": "not-found", "schema": "invalid-event",
                      "unknown": "invalid-event", "state": []}
    # The message without the code; the invalid field named for a form.
    assert invalid == {"message": "ADD: text: String should have at least 1 character",
                       "fields": [{"path": ["text"],
                                   "message": "String should have at least 1 character"}]}


def test_bad_token_fails_to_connect(blank: Page) -> None:
    code = blank.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        try { await connect({ token, timeout: 2 }); return "connected"; }
        catch (error) { return error.code; }
    }""", jwt.encode({"sub": "eve", "exp": int(time.time()) + 60, "aud": "statesync",
                      "iss": "statesync"}, "wrong-secret-0123456789-0123456789", algorithm="HS256"))
    assert code == "unauthenticated"


def test_settings_defaults_and_changes(blank: Page) -> None:
    result = blank.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        const prefs = await client.settings("prefs", { theme: "light", size: 14 });
        const first = prefs.values;
        const seen = [];
        prefs.subscribe((values) => seen.push(values.theme));
        const saved = prefs.set("theme", "dark");
        const optimistic = { values: prefs.values, saved: prefs.saved };
        await saved;
        await prefs.update({ size: 18, extra: true });
        const updated = prefs.values;
        await prefs.reset(["size"]);
        const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
        for (let i = 0; i < 500 && !prefs.saved; i++) await tick();
        const result = { first, optimistic, updated, reset: prefs.values, seen,
                         stable: prefs.values === prefs.values, saved: prefs.saved };
        await client.close();
        return result;
    }""", token("dave"))
    assert result["first"] == {"theme": "light", "size": 14}
    assert result["optimistic"] == {"values": {"theme": "dark", "size": 14}, "saved": False}
    assert result["updated"] == {"theme": "dark", "size": 18, "extra": True}
    assert result["reset"] == {"theme": "dark", "size": 14, "extra": True}
    assert result["seen"][:2] == ["light", "dark"]
    assert result["stable"] is True and result["saved"] is True
