"""Inside MicroPython: the client and the browser bridge round-trip events against a real
server (tests/micropython/test_client_in_micropython.py), over the page's WebSocket
(MicroPython's `js` module; under Node, the `ws` package) and `fetch`."""

import json

import machines
import statesync_bridge as bridge
from statesync import Client


async def _direct(url, token, name):
    """The client alone: a token, a handle, an optimistic send confirmed by the server."""
    client = Client(url, token=token, machines={"todo": machines.todo})
    try:
        await client.connect(10)
        handle = await client.instance("todo", name, {})
        future = handle.send({"type": "ADD", "text": "milk"})
        optimistic = handle.state.context["items"]
        seq = await future
        return {"transport": type(client.transport).__name__, "optimistic": optimistic,
                "seq": seq, "confirmed": handle.state.context["items"],
                "pending": handle.pending}
    finally:
        await client.close()


async def _through_bridge(url):
    """As the worker drives it: an anonymous session (POST /v1/session through `fetch`),
    JSON across, outcomes instead of exceptions."""
    sessions = []
    client = bridge.make_client(url, None, None, None, sessions.append,
                                json.dumps({"todo": "machines:todo"}))
    try:
        connected = await bridge.connect(client, 10)
        if connected.code is not None:
            return {"connect": [connected.code, connected.message]}
        subject = json.loads(sessions[-1])["sub"]
        opened = await bridge.instance(client, "todo", subject, "{}")
        handle = opened.value
        changes = []
        unsubscribe = bridge.subscribe(handle, lambda: changes.append(1))
        sent = await bridge.send(handle, json.dumps({"type": "ADD", "text": "eggs"}))
        rejected = await bridge.send(handle, json.dumps({"type": "ADD", "text": ""}))
        view = json.loads(bridge.view_json(handle))
        unsubscribe()
        return {"subject": subject, "token": json.loads(sessions[-1])["token"],
                "sent": [sent.value, sent.code], "rejected": rejected.code, "view": view}
    finally:
        await bridge.close(client)


async def run(args_json):
    args = json.loads(args_json)
    report = {"direct": await _direct(args["url"], args["token"], args["name"]),
              "bridge": await _through_bridge(args["url"])}
    return json.dumps(report)
