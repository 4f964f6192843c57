"""The React bindings as React users expect them, on the task board app in Chromium: a
Suspense-ready `useInstance`, errors thrown to error boundaries on request, `hasTag` on the
hook's result, and errors whose message does not repeat the code."""

from __future__ import annotations

import httpx
from e2e_harness import token
from playwright.sync_api import Page, expect

from statesync_server.testing import ServerProcess

LIVE = 60_000  # ms: Pyodide's cold start on a busy CI box

PAGE = """<!doctype html>
<script type="importmap">
  {"imports": {"react": "/statesync/sdk/vendor/react.js",
               "react-dom/client": "/statesync/sdk/vendor/react-dom.js"}}
</script>
<div id="root"></div>
<script type="module">
import { Component, createElement as h, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { StatesyncProvider, useInstance } from "/statesync/sdk/react.js";

const token = new URLSearchParams(location.search).get("token");
window.renders = [];  // what each suspending component rendered with

class Boundary extends Component {
  state = { error: null };
  static getDerivedStateFromError(error) { return { error }; }
  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return h("p", { id: this.props.id }, `${error.code}|${error.message}`);
  }
}

function Task({ name }) {  // rendered only once the instance is open
  const task = useInstance("task", name, { suspense: true });
  window.renders.push(task.state === undefined ? "undefined" : task.context.title);
  return h("p", { id: "task" }, `${task.context.title}|${task.hasTag("archived")}`);
}

function Thrower() {  // no Suspense: the error goes to the boundary
  const view = useInstance("no-such-machine", "x", { throwOnError: true });
  return h("p", { id: "thrower" }, view.state ? "open" : "opening");
}

createRoot(document.getElementById("root")).render(
  h(StatesyncProvider, { token },
    h(Boundary, { id: "task-error" },
      h(Suspense, { fallback: h("p", { id: "fallback" }, "loading") }, h(Task, { name: "t1" }))),
    h(Boundary, { id: "missing-error" },
      h(Suspense, { fallback: h("p", null, "loading") }, h(Task, { name: "missing" }))),
    h(Boundary, { id: "thrower-error" }, h(Thrower))));
</script>
"""


def test_suspense_error_boundaries_and_has_tag(page: Page, board: ServerProcess) -> None:
    alice = token("alice")
    headers = {"authorization": f"Bearer {alice}"}
    created = httpx.post(f"{board.url}/v1/instances/task/t1", headers=headers,
                         json={"input": {"title": "One"}})
    assert created.status_code == 201, created.text
    page.set_default_timeout(LIVE)
    page.route(f"{board.url}/react-test*", lambda route: route.fulfill(
        body=PAGE, content_type="text/html"))
    page.goto(f"{board.url}/react-test?token={alice}")

    expect(page.locator("#task")).to_have_text("One|false", timeout=LIVE)
    assert "undefined" not in page.evaluate("window.renders")  # suspended until open
    expect(page.locator("#missing-error")).to_have_text(
        "not-found|no instance 'missing'", timeout=LIVE)
    expect(page.locator("#thrower-error")).to_have_text(
        "not-found|unknown machine 'no-such-machine'", timeout=LIVE)

    closed = httpx.post(f"{board.url}/v1/instances/task/t1/events", headers=headers,
                        json={"event": {"type": "CLOSE"}, "event_id": "react-close-1"})
    assert closed.status_code == 200, closed.text
    expect(page.locator("#task")).to_have_text("One|true", timeout=LIVE)
