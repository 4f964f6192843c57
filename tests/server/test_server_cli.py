"""The command line: `statesync token`, and `statesync serve` on the example app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
from server_harness import SECRET, WsClient

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "todo" / "app.py")


def test_token_is_signed_with_the_configured_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "statesync_server", "token", "--sub", "alice", "--claim",
         "role=admin", "--claim", "level=3"],
        capture_output=True, text=True, env={**os.environ, "STATESYNC_SECRET": SECRET},
        cwd=tmp_path, timeout=30, check=True,
    )
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="statesync",
                        issuer="statesync")
    assert (claims["sub"], claims["role"], claims["level"]) == ("alice", "admin", 3)


async def test_example_todo_app(start_server, tmp_path: Path) -> None:
    server = start_server(app=EXAMPLE)
    assert "machines: todo v1 (0 instances)" in server.log()
    token = subprocess.run(
        [sys.executable, "-m", "statesync_server", "token", "--sub", "alice"], capture_output=True,
        text=True, env={**os.environ, "STATESYNC_SECRET": SECRET}, timeout=30, check=True,
    ).stdout.strip()
    alice = await WsClient.connect(server, token)
    created = await alice.request({"type": "create", "id": 1, "machine": "todo",
                                   "instance": "groceries",
                                   "input": {"title": "Groceries"}})  # alice: the owner
    assert created["context"] == {"title": "Groceries", "owner": "alice", "items": [],
                                  "next_id": 1}
    await alice.request({"type": "subscribe", "id": 2, "machine": "todo", "instance": "groceries"})
    await alice.send_event("todo", "groceries", {"type": "ADD", "text": "milk"}, "a1")
    await alice.send_event("todo", "groceries", {"type": "TOGGLE", "id": 1}, "a2")
    await alice.send_event("todo", "groceries", {"type": "SHARE", "member": "bob"}, "a3")
    missing = await alice.send_event("todo", "groceries", {"type": "TOGGLE", "id": 9}, "a4")
    assert missing["code"] == "event-not-accepted"
    assert missing["message"] == ("'TOGGLE' is handled in state active, but the guards of its "
                                  "transitions refused it")
    state = await alice.update("groceries", 3)
    assert state["context"]["items"] == [{"id": 1, "text": "milk", "done": True}]
    assert "members" not in state["context"]
    await alice.close()
