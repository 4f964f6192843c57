"""`statesync serve app.py --dev`: a real server restarts on the edited machine file and keeps
(same state paths) or resets (state gone) the dev database's instances, saying so; without
`--dev` the same edit stops the server with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from server_harness import SECRET, ServerProcess, mint

LIGHT = '''
from statesync import Machine
from statesync_server import App

import helper  # a module next to the app: its edits reload the server too

machine = Machine({"id": "light", "initial": "off", "states": {STATES}})
app = App()
app.register("light", machine)
'''
V1 = '"off": {"on": {"FLIP": "on"}}, "on": {"on": {"FLIP": "off"}}'
V2 = '"off": {"on": {"FLIP": "on"}}, "on": {"on": {"FLIP": "off", "DIM": "dim"}}, "dim": {}'
V3 = '"off": {"on": {"FLIP": "off"}}'


def call(server: ServerProcess, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {mint('alice')}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def write_app(path: Path, states: str) -> None:
    path.write_text(LIGHT.replace("STATES", states))


def wait_for_start(server: ServerProcess, starts: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while server.log().count("Application startup complete") < starts:
        assert time.monotonic() < deadline, server.log()
        assert server.proc is not None and server.proc.poll() is None, server.log()
        time.sleep(0.05)


def test_dev_mode_reloads_and_keeps_or_resets_instances(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    write_app(app, V1)
    (tmp_path / "helper.py").write_text("X = 1\n")
    server = ServerProcess(tmp_path / "dev.db", "--dev", app=str(app)).start()
    try:
        port = server.port
        assert call(server, "POST", "/v1/instances/light/stays", {})[0] == 201
        assert call(server, "POST", "/v1/instances/light/moved", {})[0] == 201
        assert call(server, "POST", "/v1/instances/light/moved/events",
                    {"event": {"type": "FLIP"}, "event_id": "f1"})[0] == 200

        write_app(app, V2)  # a new state and event; every stored state still exists
        wait_for_start(server, 2)
        assert server.port == port  # the same socket across restarts
        assert "machine 'light' version '1' changed: 2 instance(s) kept" in server.log()
        status, moved = call(server, "GET", "/v1/instances/light/moved")
        assert status == 200 and (moved["value"], moved["seq"]) == ("on", 1)
        status, _ = call(server, "POST", "/v1/instances/light/moved/events",
                         {"event": {"type": "DIM"}, "event_id": "d1"})  # the new code runs
        assert status == 200
        assert call(server, "GET", "/v1/instances/light/moved")[1]["value"] == "dim"
        assert call(server, "POST", "/v1/instances/light/moved/events",
                    {"event": {"type": "FLIP"}, "event_id": "f2"})[0] == 409

        write_app(app, V3)
        wait_for_start(server, 3)  # `on` and `dim` are gone: `moved` (dim) is reset
        assert "1 instance(s) kept in their state (same state paths) (stays), 1 reset" in server.log()
        assert call(server, "GET", "/v1/instances/light/moved")[0] == 404
        assert call(server, "POST", "/v1/instances/light/moved", {})[0] == 201  # afresh

        (tmp_path / "helper.py").write_text("X = (\n")  # a broken edit of another .py file:
        deadline = time.monotonic() + 60  # reported, and the next save recovers
        while "the server exited" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        (tmp_path / "helper.py").write_text("X = 2\n")
        wait_for_start(server, 4)
        assert call(server, "GET", "/v1/instances/light/stays")[1]["value"] == "off"
        children = _children(server.proc.pid)
        assert children
        server.kill()  # even a supervisor killed outright leaves no server behind
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in children):
            assert time.monotonic() < deadline, f"{children} outlived the dev supervisor"
            time.sleep(0.05)
    finally:
        server.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:  # a zombie is gone for our purpose
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_without_dev_a_changed_machine_stops_the_server_with_one_line(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    write_app(app, V1)
    (tmp_path / "helper.py").write_text("X = 1\n")
    ServerProcess(tmp_path / "prod.db", app=str(app)).start().stop()
    write_app(app, V2)
    done = subprocess.run(
        [sys.executable, "-m", "statesync_server", "serve", str(app), "--port", "0",
         "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}"],
        capture_output=True, text=True, timeout=60, env={**__import__("os").environ,
                                                         "STATESYNC_SECRET": SECRET})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "has changed since this database first served it" in done.stderr
    assert "--dev" in done.stderr  # the hint for development
