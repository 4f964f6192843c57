"""The client and the browser bridge in MicroPython (the light runtime) against a real
`statesync serve` on 127.0.0.1: an event sent there is applied optimistically, committed by
the server, and the server's own view shows it.

Under Node 20 the page's `WebSocket` comes from the `ws` package; `fetch` is Node's.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from statesync_server.testing import ServerProcess

from .harness import REPO, bundle_dir, requires_micropython, run_micropython

pytestmark = requires_micropython

EXAMPLE = REPO / "examples" / "settings_page"
BOARD = REPO / "tests" / "e2e" / "apps" / "board"  # a machine with indexes
HERE = Path(__file__).resolve().parent


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(EXAMPLE / "app.py", tmp_path / "db.sqlite").start()
    yield process
    process.stop()


@pytest.fixture
def board(tmp_path: Path):
    process = ServerProcess(BOARD / "app.py", tmp_path / "board.sqlite").start()
    yield process
    process.stop()


def server_state(server: ServerProcess, name: str, token: str) -> dict:
    request = urllib.request.Request(f"{server.url}/v1/instances/todo/{name}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_client_and_bridge_round_trip_events_in_micropython(server: ServerProcess,
                                                           tmp_path: Path) -> None:
    directory = bundle_dir(tmp_path / "bundle", [EXAMPLE / "machines.py"],
                           {"inside_client": HERE / "inside_client.py",
                            "statesync_bridge": REPO / "sdk_web" / "bridge.py"})
    token = server.mint("alice")
    result = run_micropython(directory, "inside_client", "run",
                             {"url": server.url, "token": token, "name": "alice"},
                             websocket=True, timeout=120)

    direct = result["direct"]
    assert direct["transport"] == "MicroPythonTransport"
    assert direct["optimistic"] == [{"id": 1, "text": "milk", "done": False}]  # before the ack
    assert direct["confirmed"] == direct["optimistic"] and direct["pending"] == []
    assert isinstance(direct["seq"], int) and direct["seq"] >= 1
    stored = server_state(server, "alice", token)
    assert stored["context"]["items"] == [{"id": 1, "text": "milk", "done": False}]
    assert stored["seq"] == direct["seq"]

    bridged = result["bridge"]
    assert "connect" not in bridged, bridged
    sent, code = bridged["sent"]
    assert code is None and isinstance(sent, int)
    assert bridged["rejected"] == "invalid-event"  # the server validates `text`
    view = bridged["view"]
    assert view["state"]["context"]["items"] == [{"id": 1, "text": "eggs", "done": False}]
    assert view["pending"] == [] and view["status"]["status"] == "live"
    stored = server_state(server, bridged["subject"], bridged["token"])
    assert stored["context"]["items"] == [{"id": 1, "text": "eggs", "done": False}]


def test_queries_and_live_queries_in_micropython(board: ServerProcess, tmp_path: Path) -> None:
    directory = bundle_dir(tmp_path / "bundle", [BOARD / "taskboard.py"],
                           {"inside_queries": HERE / "inside_queries.py",
                            "statesync_bridge": REPO / "sdk_web" / "bridge.py"})
    result = run_micropython(directory, "inside_queries", "run",
                             {"url": board.url, "token": board.mint("alice"), "prefix": "q-"},
                             websocket=True, timeout=120)

    assert sorted(item["instance"] for item in result["items"]) == ["q-a", "q-b"]
    changes = [(c["kind"], c["instance"]) for c in result["changes"]]
    assert changes[:2] == [("enter", "q-b"), ("enter", "q-a")]
    assert set(changes[2:]) <= {("update", "q-a")}  # its later seqs, as the server sends them
    assert sorted(item["instance"] for item in result["page"]["items"]) == ["q-a", "q-b"]
    # `async for change in live` (its body subscribes once it runs: the enter or a later update)
    assert result["iterated"] in (["enter", "q-a"], ["update", "q-a"])
    assert result["ended"] and result["ends"] == [[None, ""]]  # closed by the page
