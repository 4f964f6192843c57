"""Upgrades, queries and history through a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from server_harness import SECRET, ServerProcess, WsClient, mint

APPS = Path(__file__).parent / "apps"

DAY_MS = 24 * 3600 * 1000  # a real day: the servers of the story run on virtual time


def http(server: ServerProcess, method: str, path: str, token: str, body=None):
    request = urllib.request.Request(
        server.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statesync_server", *args], capture_output=True,
                          text=True, timeout=60, check=False, env={**os.environ, **env})


@pytest.fixture
def story_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"STATESYNC_TEST_DAY_MS": str(DAY_MS), "STATESYNC_TEST_MAIL_LOG": str(tmp_path / "mail"),
           "STATESYNC_SECRET": SECRET}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def mails(env: dict[str, str]) -> list[tuple[str, str]]:
    """(effect, instance) per distinct idempotency key: e-mails actually sent."""
    path = Path(env["STATESYNC_TEST_MAIL_LOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted((effect, instance) for effect, instance, _key in {
        tuple(line.split()) for line in lines})


def log_of(server: ServerProcess, name: str, token: str) -> list[dict]:
    status, body = http(server, "GET", f"/v1/instances/onboarding/{name}/events?since=-1", token)
    assert status == 200, body
    return body["entries"]


async def test_onboarding_story_live_upgrade(db_url: str, story_env: dict[str, str]) -> None:
    """On virtual time: the clock stands still while the CLI subprocesses run, and the real
    day passes in one `advance`."""
    db = db_url
    token = mint("alice")
    server = ServerProcess(db, app=str(APPS / "app_v1.py"), clock="manual").start()
    try:
        client = await WsClient.connect(server, token)
        for name in ("before", "waiting", "dripped"):
            reply = await client.request({"type": "create", "id": name, "machine": "onboarding",
                                          "instance": name, "input": {"email": f"{name}@x"}})
            assert reply["type"] == "created", reply
        for name in ("waiting", "dripped"):
            assert (await client.send_event("onboarding", name, {"type": "CONFIRM"},
                                             f"c-{name}"))["type"] == "ack"
        assert (await client.send_event("onboarding", "dripped", {"type": "DRIP_NOW"},
                                         "d"))["type"] == "ack"
        await client.close()
        stopped_at = await server.advance(seconds=0)  # settled: the e-mail effects ran
    finally:
        server.stop()
    assert mails(story_env) == [("sendDripEmail", "dripped"), ("sendWelcomeEmail", "dripped"),
                                ("sendWelcomeEmail", "waiting")]

    # Deploy v2 next to v1 (same database, the clock where it stopped); the waiting
    # instance's day is still pending.
    server = ServerProcess(db, "--clock-start", str(stopped_at), app=str(APPS / "app_v12.py"),
                           clock="manual").start()
    try:
        assert "machines: onboarding v2 (3 instances: 3 on v1)" in server.log()  # not on v2
        client = await WsClient.connect(server, token)
        reply = await client.request({"type": "subscribe", "id": "s", "machine": "onboarding",
                                      "instance": "waiting"})
        assert reply["seq"] == 1
        await client.update("waiting", 1)

        listed = cli("versions", str(APPS / "app_v12.py"), "--database-url",
                     db, "--json", env=story_env)
        assert listed.returncode == 0, listed.stderr
        rows = {r["version"]: r for r in json.loads(listed.stdout)["versions"]}
        assert rows["1"]["instances"] == 3 and rows["1"]["status"] == "registered"
        assert rows["2"]["instances"] == 0 and rows["2"]["status"] == "current"

        upgraded = cli("upgrade", str(APPS / "app_v12.py"), "--url", server.url,
                       "--machine", "onboarding", "--from", "1", env=story_env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout.strip() == "3 upgraded, 0 already current"

        # The upgrade is a transition of its own, broadcast like any other.
        update = await client.update("waiting", 2)
        assert update["value"] == "welcomed" and update["context"]["channel"] is None
        entries = log_of(server, "waiting", token)
        assert entries[-1]["event"] == {"type": "statesync.upgrade", "from": "1", "to": "2",
                                        "path": ["1", "2"]}

        # An hour later, those before the welcome e-mail get the new step.
        await server.advance(hours=1)
        assert (await client.send_event("onboarding", "before", {"type": "CONFIRM"},
                                         "c-before"))["type"] == "ack"
        assert (await client.send_event("onboarding", "before",
                                         {"type": "CHANNEL", "channel": "podcast"},
                                         "ch-before"))["type"] == "ack"

        # The pending day still fires, once, at its time: waiting -> dripped.
        await server.advance(hours=23)
        update = await client.update("waiting", 3)
        assert update["value"] == "dripped"
        entries = log_of(server, "waiting", token)
        timer_events = [e for e in entries if e["event"]["type"].startswith("xstate.after")]
        assert len(timer_events) == 1 and entries[-1]["seq"] == 3
        assert timer_events[0]["at"] == entries[1]["at"] + DAY_MS / 1000  # a day after CONFIRM
        await client.close()
    finally:
        server.stop()
    # Nobody got a second welcome e-mail; the new step ran for `before` only (whose own day,
    # begun an hour later, is not over).
    assert mails(story_env) == [
        ("lookUpChannel", "before"),
        ("sendDripEmail", "dripped"), ("sendDripEmail", "waiting"),
        ("sendWelcomeEmail", "before"), ("sendWelcomeEmail", "dripped"),
        ("sendWelcomeEmail", "waiting"),
    ]


async def test_server_refuses_to_start_without_the_stored_version(db_url: str,
                                                                  story_env) -> None:
    db = db_url
    server = ServerProcess(db, app=str(APPS / "app_v1.py")).start()
    try:
        token = mint("alice")
        status, _ = http(server, "POST", "/v1/instances/onboarding/x", token, {"input": {}})
        assert status == 201
    finally:
        server.stop()
    refused = cli("serve", str(APPS / "app_v2only.py"), "--port", "0", "--database-url",
                  db, env=story_env)
    assert refused.returncode == 2, refused.stderr
    assert ("1 instance(s) of machine 'onboarding' are at version '1', which is no longer "
            "registered") in refused.stderr
    assert "Traceback" not in refused.stderr  # the reason, in words only

    # And the offline upgrade CLI reports a missing path clearly.
    done = cli("upgrade", str(APPS / "app_v1.py"), "--database-url", db,
               "--machine", "onboarding", "--to", "7", env=story_env)
    assert done.returncode != 0
    assert "not-found: machine 'onboarding' has no registered version '7'" in done.stderr


async def test_queries_and_history_over_http_and_websocket(db_url: str, story_env) -> None:
    server = ServerProcess(db_url, app=str(APPS / "app_v12.py")).start()
    try:
        alice, bob = mint("alice"), mint("bob")
        client = await WsClient.connect(server, alice)
        for i in range(30):
            owner = "alice" if i % 3 else "bob"
            status, body = http(server, "POST", f"/v1/instances/onboarding/u{i:02d}",
                                alice if owner == "alice" else bob,
                                {"input": {"email": f"u{i:02d}@example.com", "owner": owner,
                                           "score": i % 10, "tags": ["t"] if i % 2 else []}})
            assert status == 201, body
        # HTTP: scores >= 7, descending, pages of 4, only what alice may read.
        seen, cursor = [], None
        for _ in range(10):
            query = {"op": "gte", "value": "7", "order": "desc", "limit": "4"}
            if cursor:
                query["cursor"] = cursor
            status, body = http(server, "GET", "/v1/query/onboarding/score?"
                                + urllib.parse.urlencode(query), alice)
            assert status == 200, body
            seen.extend((item["key"], item["instance"]) for item in body["items"])
            cursor = body["cursor"]
            if cursor is None:
                break
        want = sorted(((i % 10, f"u{i:02d}") for i in range(30) if i % 10 >= 7 and i % 3),
                      reverse=True)
        assert seen == want

        # WebSocket: e-mail prefix, ascending.
        reply = await client.request({"type": "query", "id": "q", "machine": "onboarding",
                                      "index": "email", "op": "prefix", "value": "u1",
                                      "limit": 100})
        assert reply["type"] == "results", reply
        assert [item["instance"] for item in reply["items"]] == [
            f"u{i}" for i in range(10, 20) if i % 3]
        reply = await client.request({"type": "query", "id": "bad", "machine": "onboarding",
                                      "index": "nope", "value": 1})
        assert reply["type"] == "error" and reply["code"] == "not-found"

        # History: the state as of any seq, for readers only.
        for n in range(1, 6):
            ack = await client.send_event("onboarding", "u01", {"type": "SCORE", "score": 100 + n},
                                          f"s{n}")
            assert ack["seq"] == n
        status, body = http(server, "GET", "/v1/instances/onboarding/u01/at/3", alice)
        assert status == 200, body
        assert body["context"]["score"] == 103 and body["seq"] == 3 and body["version"] == "2"
        assert body["event"] == {"type": "SCORE", "score": 103}
        status, body = http(server, "GET", "/v1/instances/onboarding/u01/at/0", alice)
        assert body["context"]["score"] == 1 and body["value"] == "signedUp"
        status, body = http(server, "GET", "/v1/instances/onboarding/u01/at/3", bob)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body = http(server, "GET", "/v1/instances/onboarding/u01/at/9", alice)
        assert status == 404

        # Upgrades over HTTP need the admin claim.
        status, body = http(server, "POST", "/v1/upgrade", alice, {"machine": "onboarding"})
        assert status == 403
        await client.close()
    finally:
        server.stop()
