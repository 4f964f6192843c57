"""The onboarding example: welcome e-mail -> wait a day -> drip e-mail, on virtual time: the
test skips the real day in milliseconds and checks the drip is neither early nor late."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from server_harness import ServerProcess, mint

APP = str(Path(__file__).parents[2] / "examples" / "onboarding" / "app.py")
DAY = 86400


def _mails(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_onboarding_sends_welcome_then_drip_a_day_later(tmp_path, monkeypatch, databases) -> None:
    mail_log = tmp_path / "mail.jsonl"
    monkeypatch.delenv("ONBOARDING_DRIP_DELAY_MS", raising=False)  # the app's own day
    monkeypatch.setenv("ONBOARDING_MAIL_LOG", str(mail_log))
    server = ServerProcess(databases.new("onboarding"), app=APP, clock="manual").start()
    try:
        auth = {"Authorization": f"Bearer {mint('alice')}"}
        base = f"{server.url}/v1/instances/onboarding"
        for name in ("alice", "alice-unsubscribes"):
            created = httpx.post(f"{base}/{name}", headers=auth, json={"input": {
                "user": "alice", "email": "alice@example.com", "name": "Alice"}})
            assert created.status_code == 201, created.text
            assert created.json()["context"] == {"name": "Alice"}  # the address stays private
        server.advance_blocking(seconds=0)  # settled: the welcome e-mails (a service) are sent
        assert httpx.get(f"{base}/alice-unsubscribes", headers=auth).json()["value"] == "waiting"
        sent = httpx.post(f"{base}/alice-unsubscribes/events", headers=auth,
                          json={"event": {"type": "UNSUBSCRIBE"}, "event_id": "u1"})
        assert sent.status_code == 200, sent.text

        server.advance_blocking(hours=23, minutes=59, seconds=59)
        assert httpx.get(f"{base}/alice", headers=auth).json()["value"] == "waiting"  # not early
        assert [m["template"] for m in _mails(mail_log)] == ["welcome", "welcome"]
        server.advance_blocking(seconds=1)
        assert httpx.get(f"{base}/alice", headers=auth).json()["value"] == "drip_sent"
        mails = _mails(mail_log)  # the drip effect ran before advance returned
        assert [(m["template"], m["delivered"]) for m in mails] == [
            ("welcome", True), ("welcome", True), ("drip-1", True)]
        assert {m["to"] for m in mails} == {"alice@example.com"}
        welcome = next(m for m in mails if m["template"] == "welcome" and "unsub" not in m["key"])
        assert welcome["key"] == "onboarding/alice/0/0"
        assert mails[2]["key"].startswith("onboarding/alice/")
        log = httpx.get(f"{base}/alice/events", headers=auth).json()["entries"]
        assert [(e["origin"], e["event"]["type"]) for e in log] == [
            ("client", "xstate.init"),
            ("service", "xstate.done.actor.welcome"),
            ("timer", "xstate.after.dripDelay.onboarding.waiting"),
        ]
        assert log[2]["at"] == log[1]["at"] + DAY  # a day after `waiting` was entered, exactly
        gone = httpx.get(f"{base}/alice-unsubscribes", headers=auth).json()
        assert gone["value"] == "unsubscribed"
    finally:
        server.stop()
