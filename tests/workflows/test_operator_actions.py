"""An operator retries or dismisses failed work: through the admin API and the CLI, with the
admin credential only, logged, and idempotent (a second click changes nothing)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from server_harness import SECRET, Bearer, WsClient, mint

from statesync_server.auth import ADMIN_CLAIM

ADMIN = Bearer("ops", **{ADMIN_CLAIM: True})  # minted when read: valid however late it runs


async def _failed_call(flow, client: WsClient, server, instance: str) -> str:
    """The key of a provider call that failed for good (Retry(max_attempts=3))."""
    await client.request({"type": "create", "id": instance, "machine": "notifier",
                          "instance": instance})
    ack = await client.send_event("notifier", instance, {"type": "CALL_PROVIDER"}, f"{instance}-1")
    await server.advance(seconds=1)
    key = f"notifier/{instance}/{ack['seq']}/0"
    assert _row(flow, key) == ("failed", 3)
    return key


def _row(flow, key: str) -> tuple[str, int]:
    machine, instance, seq, idx = key.split("/")
    [row] = flow.query("SELECT status, attempts FROM outbox WHERE machine=? AND instance=? "
                       "AND seq=? AND idx=?", machine, instance, int(seq), int(idx))
    return row["status"], row["attempts"]


def _route(key: str, action: str) -> str:
    machine, instance, seq, idx = key.split("/")
    return f"/v1/admin/instances/{machine}/{instance}/effects/{seq}/{idx}/{action}"


async def test_retry_and_dismiss_over_the_admin_api(flow, tmp_path: Path, monkeypatch) -> None:
    down = tmp_path / "down"
    down.touch()
    monkeypatch.setenv("FLOWAPP_PROVIDER_DOWN", str(down))
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    first = await _failed_call(flow, client, server, "a")
    second = await _failed_call(flow, client, server, "b")
    async with httpx.AsyncClient(base_url=server.url) as http:
        user = {"Authorization": f"Bearer {mint('alice')}"}
        assert (await http.post(_route(first, "retry"), headers=user)).status_code == 403
        assert _row(flow, first) == ("failed", 3)

        down.unlink()  # the provider is back
        retried = await http.post(_route(first, "retry"), headers=ADMIN)
        assert retried.status_code == 200, retried.text
        assert retried.json()["changed"] is True
        await server.advance(seconds=0)
        assert _row(flow, first) == ("done", 1)  # a fresh series of attempts, the first worked
        again = (await http.post(_route(first, "retry"), headers=ADMIN)).json()
        assert again["changed"] is False and again["effect"]["status"] == "done"
        runs = [r for r in flow.records("effect") if r["key"] == first]
        assert len(runs) == 4  # 3 failed, then the operator's retry: not run twice

        dismissed = (await http.post(_route(second, "dismiss"), headers=ADMIN)).json()
        assert dismissed["changed"] is True and dismissed["effect"]["status"] == "dismissed"
        assert (await http.post(_route(second, "dismiss"), headers=ADMIN)).json()["changed"] is False
        failures = (await http.get("/v1/admin/failures", headers=ADMIN)).json()
        assert second not in {e["key"] for e in failures["effects"]}  # off the banner
        refused = await http.post(_route(first, "dismiss"), headers=ADMIN)  # done: not failed
        assert refused.status_code == 409, refused.text
        missing = await http.post(_route(first.replace("/a/", "/zz/"), "retry"), headers=ADMIN)
        assert missing.status_code == 404
    log = server.log()
    assert f"retried by an operator" in log and first.rsplit("/", 2)[0].split("/")[1] in log
    assert "dismissed by an operator" in log
    await client.close()


async def test_a_failed_service_is_dismissed_not_retried(flow) -> None:
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "job", "instance": "bad",
                          "input": {"fail": True}})
    await server.advance(seconds=1)
    key = "job/bad/0/0"
    assert _row(flow, key) == ("failed", 3)
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN) as http:
        refused = await http.post(_route(key, "retry"), headers=ADMIN)
        assert refused.status_code == 409 and "xstate.error.actor" in refused.text
        assert (await http.post(_route(key, "dismiss"))).json()["changed"] is True
    assert _row(flow, key) == ("dismissed", 3)
    await client.close()


async def test_retry_and_dismiss_from_the_cli(flow, tmp_path: Path, monkeypatch) -> None:
    down = tmp_path / "down"
    down.touch()
    monkeypatch.setenv("FLOWAPP_PROVIDER_DOWN", str(down))
    server = flow.start(clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    first = await _failed_call(flow, client, server, "c")
    second = await _failed_call(flow, client, server, "d")
    down.unlink()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "statesync_server", *args,
                               "--url", server.url], capture_output=True, text=True,
                              timeout=60, check=False,
                              env={**os.environ, "STATESYNC_SECRET": SECRET})

    done = await asyncio.to_thread(cli, "effects", "retry", first)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{first}: retried (pending)"
    await server.advance(seconds=0)
    assert _row(flow, first) == ("done", 1)
    done = await asyncio.to_thread(cli, "effects", "dismiss", second)
    assert done.stdout.strip() == f"{second}: dismissed"
    done = await asyncio.to_thread(cli, "effects", "dismiss", second)
    assert done.stdout.strip() == f"{second}: already dismissed"
    refused = await asyncio.to_thread(cli, "effects", "dismiss", first)
    assert refused.returncode == 1 and "only a failed" in refused.stderr
    await client.close()
