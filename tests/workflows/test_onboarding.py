"""The onboarding example: welcome e-mail -> wait (a short "day") -> drip e-mail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from server_harness import ServerProcess, mint

APP = str(Path(__file__).parents[2] / "examples" / "onboarding" / "app.py")


def _mails(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_onboarding_sends_welcome_then_drip_after_the_delay(tmp_path, monkeypatch,
                                                            databases) -> None:
    mail_log = tmp_path / "mail.jsonl"
    monkeypatch.setenv("ONBOARDING_DRIP_DELAY_MS", "1000")
    monkeypatch.setenv("ONBOARDING_MAIL_LOG", str(mail_log))
    server = ServerProcess(databases.new("onboarding"), app=APP).start()
    try:
        auth = {"Authorization": f"Bearer {mint('alice')}"}
        base = f"{server.url}/v1/instances/onboarding"
        for name in ("alice", "alice-unsubscribes"):
            created = httpx.post(f"{base}/{name}", headers=auth, json={"input": {
                "user": "alice", "email": "alice@example.com", "name": "Alice"}})
            assert created.status_code == 201, created.text
            assert created.json()["context"] == {"name": "Alice"}  # the address stays private
        started = time.monotonic()
        deadline = started + 5
        while httpx.get(f"{base}/alice-unsubscribes", headers=auth).json()["value"] != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sent = httpx.post(f"{base}/alice-unsubscribes/events", headers=auth,
                          json={"event": {"type": "UNSUBSCRIBE"}, "event_id": "u1"})
        assert sent.status_code == 200, sent.text
        deadline = started + 10
        while httpx.get(f"{base}/alice", headers=auth).json()["value"] != "drip_sent":
            assert time.monotonic() < deadline, _mails(mail_log)
            time.sleep(0.05)
        waited = time.monotonic() - started
        assert waited >= 0.9  # the "day" passed (the drip is never early)
        time.sleep(0.3)  # the drip effect runs right after the commit
        mails = _mails(mail_log)
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
        gone = httpx.get(f"{base}/alice-unsubscribes", headers=auth).json()
        assert gone["value"] == "unsubscribed"
    finally:
        server.stop()
